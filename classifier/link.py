"""What the source tells the receiver: tagged frames on the source → receiver link.

Each payload starts with one tag byte; ``framing.END`` alone ends the stream.
"""

import json
import struct

HEADER = b"H"  # the results' header row
ROWS = b"R"  # 4-byte row count, then classified CSV rows
REJECTS = b"J"  # JSON list of [line, reason, record]
SUMMARY = b"S"  # JSON: rows_in, rows_rejected, batches, input_started_at
ERROR = b"E"  # UTF-8 text: why the run failed

COUNT = struct.Struct(">I")


def rows(count: int, data: bytes) -> bytes:
    return ROWS + COUNT.pack(count) + data


def rejects(items) -> bytes:
    return REJECTS + json.dumps(items).encode()


def summary(**fields) -> bytes:
    return SUMMARY + json.dumps(fields).encode()


def error(text: str) -> bytes:
    return ERROR + text.encode()
