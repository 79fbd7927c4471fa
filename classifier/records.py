"""Record boundaries in CSV bytes.

A record ends at a newline that is outside double quotes; an escaped quote
(``""``) toggles twice, so counting quotes gives the parity.
"""

from itertools import accumulate

QUOTE = b'"'
NEWLINE = b"\n"


def complete_prefix(data: bytes) -> int:
    """Length of the longest prefix of ``data`` that ends at a record boundary."""
    if QUOTE not in data:
        return data.rfind(NEWLINE) + 1
    parts = data.split(QUOTE)
    starts = list(accumulate((len(part) + 1 for part in parts), initial=0))
    for index in range(len(parts) - 1 - (len(parts) - 1) % 2, -1, -2):
        newline = parts[index].rfind(NEWLINE)
        if newline >= 0:
            return starts[index] + newline + 1
    return 0


def count(data: bytes) -> int:
    """Records in ``data``, which ends at a record boundary."""
    if QUOTE not in data:
        return data.count(NEWLINE)
    return sum(part.count(NEWLINE) for part in data.split(QUOTE)[::2])


def split_after(data: bytes, records: int) -> int:
    """Offset just past the ``records``-th record of ``data`` (or len(data) if fewer)."""
    if QUOTE not in data:
        offset = 0
        for _ in range(records):
            offset = data.find(NEWLINE, offset) + 1
            if offset == 0:
                return len(data)
        return offset
    offset = 0
    seen = 0
    for index, part in enumerate(data.split(QUOTE)):
        if index % 2 == 0:
            newlines = part.count(NEWLINE)
            if seen + newlines >= records:
                position = -1
                for _ in range(records - seen):
                    position = part.find(NEWLINE, position + 1)
                return offset + position + 1
            seen += newlines
        offset += len(part) + 1
    return len(data)


def iter_records(data: bytes):
    """Each record of ``data`` (which ends at a record boundary), newline included."""
    if QUOTE not in data:
        for line in data.split(NEWLINE)[:-1]:
            yield line + NEWLINE
        return
    record = []
    for index, part in enumerate(data.split(QUOTE)):
        if index:
            record.append(QUOTE)
        if index % 2:
            record.append(part)
            continue
        *whole, rest = part.split(NEWLINE)
        for piece in whole:
            record += (piece, NEWLINE)
            yield b"".join(record)
            record = []
        record.append(rest)


def terminated(payload: bytes) -> bytes:
    """A payload holds whole records; the last may lack its newline."""
    return payload if payload.endswith(NEWLINE) else payload + NEWLINE
