"""Record boundaries in CSV bytes.

A record ends at a newline outside a quoted field. Without a quote in the data
that is every newline; with one, Python's csv reader decides, so a quote inside
an unquoted field (``5" bolt``) is text, as pandas and csv read it.
"""

import csv
from itertools import accumulate

QUOTE = b'"'
NEWLINE = b"\n"
_SENTINEL = "\0end\n"


def _quoted_boundaries(data: bytes) -> list[int]:
    """End offsets of the complete records of ``data``, read by the csv module."""
    lines = data.decode("latin-1").split("\n")[:-1]
    ends = list(accumulate(len(line) + 1 for line in lines))
    reader = csv.reader([*(line + "\n" for line in lines), _SENTINEL])
    boundaries = []
    try:
        for _ in reader:
            if reader.line_num > len(lines):
                break
            boundaries.append(ends[reader.line_num - 1])
    except csv.Error:
        pass
    return boundaries


def ends(data: bytes) -> list[int]:
    """End offsets (just past the newline) of the complete records of ``data``."""
    if QUOTE not in data:
        return list(accumulate(len(line) + 1 for line in data.split(NEWLINE)[:-1]))
    return _quoted_boundaries(data)


def complete_prefix(data: bytes) -> int:
    """Length of the longest prefix of ``data`` that ends at a record boundary."""
    if QUOTE not in data:
        return data.rfind(NEWLINE) + 1
    found = ends(data)
    return found[-1] if found else 0


def count(data: bytes) -> int:
    """Records in ``data``, which ends at a record boundary."""
    return len(ends(data))


def split_after(data: bytes, records: int) -> int:
    """Offset just past the ``records``-th record of ``data`` (or len(data) if fewer)."""
    if records <= 0:
        return 0
    found = ends(data)
    return found[records - 1] if records <= len(found) else len(data)


def whole_ends(payload: bytes) -> list[int]:
    """``ends`` of a payload of whole records: what follows an unclosed quote is one record."""
    found = ends(payload)
    if payload and (not found or found[-1] != len(payload)):
        found.append(len(payload))
    return found


def iter_records(data: bytes):
    """Each record of ``data``, newline included; what follows an unclosed quote is one record."""
    start = 0
    for end in whole_ends(data):
        yield data[start:end]
        start = end


def terminated(payload: bytes) -> bytes:
    """A payload holds whole records; the last may lack its newline."""
    return payload if payload.endswith(NEWLINE) else payload + NEWLINE
