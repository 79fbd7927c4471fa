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
    boundaries = _quoted_boundaries(data)
    return boundaries[-1] if boundaries else 0


def count(data: bytes) -> int:
    """Records in ``data``, which ends at a record boundary."""
    if QUOTE not in data:
        return data.count(NEWLINE)
    return len(_quoted_boundaries(data))


def split_after(data: bytes, records: int) -> int:
    """Offset just past the ``records``-th record of ``data`` (or len(data) if fewer)."""
    if QUOTE not in data:
        offset = 0
        for _ in range(records):
            offset = data.find(NEWLINE, offset) + 1
            if offset == 0:
                return len(data)
        return offset
    if records <= 0:
        return 0
    boundaries = _quoted_boundaries(data)
    return boundaries[records - 1] if records <= len(boundaries) else len(data)


def iter_records(data: bytes):
    """Each record of ``data``, newline included; what follows an unclosed quote is one record."""
    if QUOTE not in data:
        for line in data.split(NEWLINE)[:-1]:
            yield line + NEWLINE
        return
    start = 0
    for end in _quoted_boundaries(data):
        yield data[start:end]
        start = end
    if start < len(data):
        yield data[start:]


def terminated(payload: bytes) -> bytes:
    """A payload holds whole records; the last may lack its newline."""
    return payload if payload.endswith(NEWLINE) else payload + NEWLINE
