"""Record boundaries in CSV bytes.

A record ends at a newline outside a quoted field. When every quote in the data
opens a field, closes one or is doubled inside one (RFC 4180), a newline is
outside quotes exactly when an even number of quotes precede it, which numpy
counts at once. Other data (a quote inside an unquoted field, ``5" bolt``) is
left to Python's csv reader, so the quote is text, as pandas and csv read it.
"""

import csv
from itertools import accumulate

import numpy as np

BOM = b"\xef\xbb\xbf"  # UTF-8's byte-order mark: pandas reads the header as if it were not there
QUOTE = b'"'
NEWLINE = b"\n"
_QUOTE, _NEWLINE, _COMMA, _RETURN = ord(QUOTE), ord(NEWLINE), ord(","), ord("\r")
_SENTINEL = "\0end\n"
csv.field_size_limit(2**31 - 1)  # a record may be as long as a frame; pandas has no such limit


MAX_COLUMNS = 16384  # job.max_columns' default in the schema


def columns_problem(data: bytes, max_columns: int = MAX_COLUMNS) -> str | None:
    """Why the header, the first record of ``data``, has too many columns (None if it has
    not); counted before anything is built per column, in time linear in its size."""
    found = ends(data)
    header = data[: int(found[0])] if len(found) else data
    fields = fields_per_record(header)
    if fields is not None:
        columns = int(fields[0])
    elif header.count(b",") + 1 <= max_columns:  # no more than the commas, quoted or not
        return None
    else:
        columns = len(next(csv.reader([header.decode("latin-1")]), []))
    if columns <= max_columns:
        return None
    return f"the header has {columns} columns, more than job.max_columns ({max_columns})"


def header_problem(data: bytes) -> str | None:
    """Why the first line of ``data`` cannot be a CSV header (None if it can)."""
    header = data.split(NEWLINE, 1)[0]
    try:
        header.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"the header is not UTF-8 (byte {header[error.start]:#04x} at offset {error.start})"
    return None


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


def _is_rfc4180(octets: np.ndarray, quotes: np.ndarray) -> bool:
    """Every quote opens a field (after a comma, a newline or the start), closes one (before
    a comma, a line end or the end), or is half of a doubled quote inside one."""
    size = len(octets)
    doubled = np.diff(quotes) == 1
    opening, closing = quotes[0::2], quotes[1::2]
    before = octets[np.maximum(opening - 1, 0)]
    opens_field = (opening == 0) | (before == _COMMA) | (before == _NEWLINE)
    closing_then_opening = doubled[1::2]  # a doubled quote inside a quoted field
    opens_field[1:] |= closing_then_opening
    after = octets[np.minimum(closing + 1, size - 1)]
    closes_field = (closing == size - 1) | np.isin(after, (_COMMA, _NEWLINE, ord("\r")))
    closes_field[: len(closing_then_opening)] |= closing_then_opening
    return bool(opens_field.all() and closes_field.all())


BLOCK_BYTES = 16 * 1024 * 1024


def _offsets(octets: np.ndarray, value: int) -> np.ndarray:
    """``np.flatnonzero(octets == value)``, a block at a time: a long record costs no
    temporary array of its size."""
    if len(octets) <= BLOCK_BYTES:
        return np.flatnonzero(octets == value)
    return np.concatenate(
        [
            np.flatnonzero(octets[start : start + BLOCK_BYTES] == value) + start
            for start in range(0, len(octets), BLOCK_BYTES)
        ]
    )


def structure(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(octets, newline offsets outside quotes, quote offsets)`` of RFC 4180 data, else None."""
    octets = np.frombuffer(data, dtype=np.uint8)
    newlines = _offsets(octets, _NEWLINE)
    quotes = _offsets(octets, _QUOTE)
    if len(quotes):
        if not _is_rfc4180(octets, quotes):
            return None
        newlines = _outside_quotes(quotes, newlines)
    return octets, newlines, quotes


def _outside_quotes(quotes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The offsets with an even number of quotes before them."""
    return offsets[np.searchsorted(quotes, offsets) % 2 == 0]


def fields_per_record(data: bytes) -> np.ndarray | None:
    """The number of fields of each record of ``data`` (whole records), or None if not RFC 4180."""
    found = structure(terminated(data) if data else data)
    if found is None:
        return None
    octets, newlines, quotes = found
    commas = _offsets(octets, _COMMA)
    if len(quotes):
        commas = _outside_quotes(quotes, commas)
    return np.diff(np.searchsorted(commas, newlines), prepend=0) + 1


def holds(data, value: int) -> bool:
    """Whether ``data`` (bytes or a view) holds the byte ``value``, a block at a time."""
    octets = np.frombuffer(data, dtype=np.uint8)
    return any(
        (octets[start : start + BLOCK_BYTES] == value).any()
        for start in range(0, len(octets), BLOCK_BYTES)
    )


def newlines(data) -> int:
    """The newlines in ``data`` (bytes or a view)."""
    return len(_offsets(np.frombuffer(data, dtype=np.uint8), _NEWLINE))


def field_spans(record) -> list[tuple[int, int, bool]] | None:
    """``(start, stop, quoted)`` of each field of one RFC 4180 record (bytes or a view, its line
    end included), a quoted field's quotes left out; None if it is not RFC 4180 or holds a
    carriage return outside quotes other than its line end."""
    found = structure(record)
    if found is None:
        return None
    octets, line_ends, quotes = found
    end = len(octets) - (len(octets) > 0 and octets[-1] == _NEWLINE)
    end -= end > 0 and octets[end - 1] == _RETURN
    commas, returns = _offsets(octets, _COMMA), _offsets(octets, _RETURN)
    if len(quotes):
        commas, returns = _outside_quotes(quotes, commas), _outside_quotes(quotes, returns)
    if len(line_ends) > 1 or (len(line_ends) and line_ends[0] < end) or (returns < end).any():
        return None
    spans = []
    for start, stop in zip([0, *(commas + 1).tolist()], [*commas.tolist(), end], strict=True):
        quoted = stop - start >= 2 and octets[start] == _QUOTE
        spans.append((start + 1, stop - 1, True) if quoted else (start, stop, False))
    return spans


def ends(data: bytes) -> np.ndarray:
    """End offsets (just past the newline) of the complete records of ``data``."""
    found = structure(data)
    if found is None:
        return np.array(_quoted_boundaries(data), dtype=np.int64)
    return found[1] + 1


def complete_prefix(data: bytes) -> int:
    """Length of the longest prefix of ``data`` that ends at a record boundary."""
    if QUOTE not in data:
        return data.rfind(NEWLINE) + 1
    found = ends(data)
    return int(found[-1]) if len(found) else 0


def count(data: bytes) -> int:
    """Records in ``data``, which ends at a record boundary."""
    return len(ends(data))


def count_whole(payload: bytes) -> int:
    """Records in a payload of whole records (the last may lack its newline), as the
    source counts them: ``len(whole_ends(payload))``."""
    if QUOTE in payload:
        return len(whole_ends(payload))
    return payload.count(NEWLINE) + (bool(payload) and not payload.endswith(NEWLINE))


def split_after(data: bytes, records: int) -> int:
    """Offset just past the ``records``-th record of ``data`` (or len(data) if fewer)."""
    if records <= 0:
        return 0
    found = ends(data)
    return int(found[records - 1]) if records <= len(found) else len(data)


def whole_ends(payload: bytes) -> np.ndarray:
    """``ends`` of a payload of whole records: what follows an unclosed quote is one record."""
    found = ends(payload)
    if payload and (not len(found) or found[-1] != len(payload)):
        found = np.append(found, len(payload))
    return found


def iter_records(data: bytes):
    """Each record of ``data``, newline included; what follows an unclosed quote is one record."""
    start = 0
    for end in whole_ends(data).tolist():
        yield data[start:end]
        start = end


def terminated(payload: bytes) -> bytes:
    """A payload holds whole records; the last may lack its newline."""
    return payload if payload.endswith(NEWLINE) else payload + NEWLINE
