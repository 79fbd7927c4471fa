"""One Dask task: parse a batch of CSV records, classify it, serialise the result.

Every record of a batch comes back either as a classified row or as a reject
with its line number and reason, so the counts always balance.
"""

import csv
import functools
import io
import pickle
import secrets
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

try:  # a batch's parser where it is installed: it reads what pandas' reads, several times faster
    import pyarrow
    import pyarrow.csv
except ImportError:
    pyarrow = None

from classifier import arrow_csv, records
from classifier.calling import RESULT_COLUMN, SLOWNESS, Call, ClassifierError, Unusable, raised

READ_OPTIONS = {"dtype": str, "keep_default_na": False, "index_col": 0}
SHOWN_BYTES = 4096  # of a rejected record, in rejects.csv
# A record this long is read and written field by field by burst: pandas' parser and csv's
# writer would hold several copies of it (csv's four bytes a character).
LONG_RECORD = 1024 * 1024
PIECE_BYTES = 1024 * 1024


def _out_of_band(data: bytes):
    """``data`` as pickle protocol 5 sends it out of band: Dask then ships it as a frame of its
    own rather than copying it into the pickle."""
    return pickle.PickleBuffer(data)


def _bytes(data) -> bytes:
    return data if isinstance(data, bytes) else bytes(data)


@dataclass(frozen=True)
class Batch:
    header: bytes
    data: bytes  # or, in the source, a view of the frame a long record came in
    first_line: int
    records: int

    def release(self) -> None:
        """Let go of the records' bytes, once read. A worker runs a batch once from its copy:
        a batch that must run again comes again."""
        object.__setattr__(self, "data", b"")

    def __reduce_ex__(self, protocol):
        data = _out_of_band(self.data) if protocol >= 5 else _bytes(self.data)
        return _batch, (self.header, data, self.first_line, self.records)


def _batch(header: bytes, data, first_line: int, count: int) -> Batch:
    return Batch(header, _bytes(data), first_line, count)


@dataclass
class BatchResult:
    first_line: int
    rows: bytes
    rows_out: int
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    seconds: float = 0.0  # the task's own time on its worker
    worker: str = ""  # the Dask worker that ran it ("" outside one)
    started_at: float = 0.0  # seconds since the epoch, by its worker's clock

    def __reduce_ex__(self, protocol):
        rows = _out_of_band(self.rows) if protocol >= 5 else self.rows
        return _result, (
            self.first_line,
            rows,
            self.rows_out,
            self.rejects,
            self.seconds,
            self.worker,
            self.started_at,
        )


def _result(
    first_line: int, rows, rows_out: int, rejects: list, seconds: float, *where
) -> BatchResult:
    """A result as the source gets it: its rows may be a view of the frame they came in."""
    return BatchResult(
        first_line,
        rows if isinstance(rows, bytes) else memoryview(rows),
        rows_out,
        rejects,
        seconds,
        *where,
    )


def _empty(header: bytes) -> pd.DataFrame:
    """The frame of a batch without rows, named as pandas names the input's columns."""
    return pd.read_csv(io.BytesIO(header), nrows=0, **READ_OPTIONS)


def results_header(header: bytes, result_column: str = RESULT_COLUMN) -> bytes:
    """The results' header row: the input's columns and the classification."""
    frame = _empty(header)
    frame[result_column] = []
    return frame.to_csv(lineterminator="\n").encode()


def classify_frame(frame: pd.DataFrame, call: Call) -> pd.DataFrame:
    """``frame`` with the result column; the rows it holds are written out as they were read."""
    frame[call.result_column] = call.values(frame) if len(frame) else []
    return frame


def _columns(header: bytes) -> list[str]:
    return next(csv.reader([header.decode("utf-8-sig")]))


class _Joined(io.RawIOBase):
    """The header, then the data, read as one binary stream without joining them."""

    def __init__(self, *parts: bytes):
        self._parts = [memoryview(part) for part in parts]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._parts and not len(self._parts[0]):
            self._parts.pop(0).release()
        if not self._parts:
            return 0
        part = self._parts[0]
        size = min(len(buffer), len(part))
        buffer[:size] = part[:size]
        self._parts[0] = part[size:]
        return size


@functools.lru_cache(maxsize=4)
def _empty_columns(header: bytes) -> tuple[pd.Index, str, object]:
    """The columns, the index's name and the dtype of the frame of a batch without rows."""
    empty = _empty(header)
    return empty.columns, empty.index.name, empty.index.dtype


def _read_arrow(batch: Batch) -> pd.DataFrame:
    """The batch's records as pandas' parser reads them (every field text, as it is), by
    pyarrow's, named as pandas names the header's columns."""
    columns, index_name, dtype = _empty_columns(batch.header)
    names = [str(number) for number in range(len(columns) + 1)]
    table = pyarrow.csv.read_csv(
        pyarrow.BufferReader(batch.data),
        read_options=pyarrow.csv.ReadOptions(column_names=names, use_threads=False),
        parse_options=pyarrow.csv.ParseOptions(newlines_in_values=True),
        convert_options=pyarrow.csv.ConvertOptions(
            column_types=dict.fromkeys(names, pyarrow.string()),
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    frame = table.to_pandas(types_mapper={pyarrow.string(): dtype}.get).set_index(names[0])
    frame.index.name, frame.columns = index_name, columns
    return frame


def _parse_fast(batch: Batch, columns: list[str]) -> pd.DataFrame | None:
    """pyarrow's parser (or pandas'), for an RFC 4180 batch whose every record has the
    header's fields.

    pandas also ends a line at a lone carriage return, so a batch with one goes the slow way.
    """
    if batch.data.count(b"\r") != batch.data.count(b"\r\n"):
        return None
    fields = records.fields_per_record(batch.data)
    if fields is None or len(fields) != batch.records or (fields != len(columns)).any():
        return None
    try:
        if pyarrow is not None and isinstance(_empty_columns(batch.header)[2], pd.StringDtype):
            frame = _read_arrow(batch)
        else:
            frame = pd.read_csv(_Joined(batch.header, batch.data), **READ_OPTIONS)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError):
        return None
    if len(frame) != batch.records or (frame.index == "").any():
        return None
    return frame


def _shown(record: bytes) -> str:
    """A rejected record as rejects.csv shows it: its text, cut after SHOWN_BYTES."""
    size = len(record)
    while size and record[size - 1] in b"\r\n":
        size -= 1
    cut = f"… ({size} bytes in all)" if size > SHOWN_BYTES else ""
    return bytes(record[: min(size, SHOWN_BYTES)]).decode("utf-8", "backslashreplace") + cut


def _lines(batch: Batch):
    """(input line, record) for each record of the batch; a long record as a view of it."""
    line, start, view = batch.first_line, 0, memoryview(batch.data)
    for end in records.whole_ends(batch.data).tolist():
        long = end - start > LONG_RECORD
        record = view[start:end] if long else batch.data[start:end]
        yield line, record
        line += records.newlines(record) if long else record.count(b"\n")
        start = end


def _fields(record) -> tuple[str | None, list[str]] | None:
    """Why a long RFC 4180 record cannot be classified (None if it can), and its fields, each
    decoded once from a view of the record; None for a record csv's reader must read."""
    spans = records.field_spans(record)
    if spans is None:
        return None
    fields = []
    for start, stop, quoted in spans:
        try:
            text = str(record[start:stop], "utf-8")
        except UnicodeDecodeError as error:
            offset = start + error.start
            return f"not UTF-8 (byte {record[offset]:#04x} at offset {offset})", []
        fields.append(text.replace('""', '"') if quoted else text)
    return None, fields


def _reason(record, columns: list[str]) -> tuple[str | None, list[str]]:
    """Why a record (bytes, or a view of a long one) cannot be classified (None if it can), and
    its fields."""
    found = _fields(record) if isinstance(record, memoryview) else None
    if found is not None:
        reason, fields = found
        if reason:
            return reason, fields
    else:
        try:
            text = str(record, "utf-8")
        except UnicodeDecodeError as error:
            return f"not UTF-8 (byte {error.object[error.start]:#04x} at offset {error.start})", []
        if not text.strip("\r\n"):
            return "blank line", []
        try:
            fields = next(csv.reader(io.StringIO(text), strict=True))
        except csv.Error as error:
            if "unexpected end of data" in str(error):
                return "a quoted field is never closed (it runs to the end of the input)", []
            fields = next(csv.reader(io.StringIO(text)))
    if len(fields) != len(columns):
        return f"expected {len(columns)} fields, got {len(fields)}", fields
    if not fields[0]:
        return f"missing {columns[0]}", fields
    return None, fields


def _read_records(batch: Batch, columns: list[str], keep_shown: bool):
    """(the fields of each record kept, the rejects, and with ``keep_shown`` (line, shown) of
    every record, else None)."""
    kept, rejects, shown = [], [], []
    for line, record in _lines(batch):
        reason, fields = _reason(record, columns)
        if keep_shown:
            shown.append((line, _shown(record)))
        if reason:
            rejects.append((line, reason, _shown(record)))
        else:
            kept.append(fields)
    return kept, rejects, shown if keep_shown else None


def _parse_checked(batch: Batch, columns: list[str], release: bool = False):
    """The frame of the records that can be classified, the rejects, and (line, shown) of
    every record (None unless ``release``). With ``release`` the batch lets go of its bytes
    once they are read."""
    kept, rejects, shown = _read_records(batch, columns, keep_shown=release)
    if release:
        batch.release()
    empty = _empty(batch.header)
    index = pd.Index([fields[0] for fields in kept], dtype=str, name=empty.index.name)
    frame = pd.DataFrame([fields[1:] for fields in kept], index, empty.columns, dtype=str)
    return frame, rejects, shown


def process(
    batch: Batch,
    classifier: str | Call,
    slowness: int = SLOWNESS,
    on_error: str = "fail",
) -> BatchResult:
    """The task each worker runs (``_process``), with where, when and how long it ran."""
    started_at, began = time.time(), time.perf_counter()
    result = _process(batch, classifier, slowness, on_error)
    result.seconds = time.perf_counter() - began
    result.worker, result.started_at = _worker_address(), started_at
    return result


def _worker_address() -> str:
    """The address of the Dask worker running this task; "" outside one."""
    worker = sys.modules.get("distributed.worker")
    try:
        return worker.get_worker().address if worker else ""
    except ValueError:
        return ""


def _process(batch: Batch, classifier: str | Call, slowness: int, on_error: str) -> BatchResult:
    """The batch, classified. With ``on_error="reject"`` a batch the classifier raises on
    comes back as rejects, each with the exception, instead of failing the run; a classifier
    that cannot be called or returns no value per row fails it, naming the batch. A batch
    with a long record is read by burst, and lets go of its bytes once read."""
    call = classifier if isinstance(classifier, Call) else Call(classifier, slowness)
    if not isinstance(batch.data, bytes):  # the source's view of a long record, not sent
        batch = _batch(batch.header, batch.data, batch.first_line, batch.records)
    columns = _columns(batch.header)
    long_texts = len(batch.data) > LONG_RECORD  # a shorter batch has no text over LONG_RECORD
    long = long_texts and _longest_record(batch.data) > LONG_RECORD
    frame = None if long else _parse_fast(batch, columns)
    rejects, shown = [], None
    if frame is None:
        frame, rejects, shown = _parse_checked(batch, columns, release=long)
    try:
        frame = classify_frame(frame, call)
    except Unusable as error:
        raise Unusable(f"{error} (the batch starting at input line {batch.first_line})") from None
    except Exception as error:  # the user's code: report which batch, keep the type
        detail = raised(error)
        if on_error != "reject":
            raise ClassifierError(batch.first_line, detail) from error
        rejected = {line for line, _, _ in rejects}
        reason = str(ClassifierError(batch.first_line, detail))
        if shown is None:
            shown = [(line, _shown(record)) for line, record in _lines(batch)]
        rejects += [(line, reason, text) for line, text in shown if line not in rejected]
        return BatchResult(batch.first_line, b"", 0, sorted(rejects))
    return BatchResult(
        batch.first_line, _rows(frame, call.result_column, long_texts), len(frame), rejects
    )


def _longest_record(data: bytes) -> int:
    return int(np.diff(records.ends(data), prepend=0).max(initial=0))


def _rows(frame: pd.DataFrame, result_column: str, long_texts: bool = True) -> bytes | bytearray:
    """The frame's rows as ``to_csv`` writes them. Texts over LONG_RECORD characters (in the
    result column, and with ``long_texts`` in the input's) are written here from their UTF-8, a
    piece at a time, quoted as csv quotes them; ``to_csv`` writes the rest."""
    marker = f"burst{secrets.token_hex(16)}x"
    texts, short = [], None
    if long_texts:
        checked = range(-1, frame.shape[1])
    else:
        checked = np.flatnonzero(frame.columns == result_column).tolist()
    for column in checked:
        values = frame.index.to_series() if column < 0 else frame.iloc[:, column]
        if not pd.api.types.is_string_dtype(values.dtype):
            continue
        is_long = values.str.len().fillna(0).to_numpy(dtype=np.int64) > LONG_RECORD
        if not is_long.any():
            continue
        tags = values.where(~is_long, "").astype(object).to_numpy(copy=True)
        for row in np.flatnonzero(is_long).tolist():
            texts.append(_utf8(values, row))
            tags[row] = f"{marker}{len(texts) - 1}{marker}"
        short = frame.copy(deep=False) if short is None else short
        if column < 0:
            short.index = pd.Index(tags, name=frame.index.name)
        else:
            short.isetitem(column, tags)
    if short is None:
        return arrow_csv.rows(frame) or frame.to_csv(header=False, lineterminator="\n").encode()
    text = short.to_csv(header=False, lineterminator="\n")
    rows = bytearray()
    for number, piece in enumerate(text.split(marker)):
        if number % 2:
            _write_quoted(rows, texts[int(piece)])
        else:
            rows += piece.encode()
    return rows


def _utf8(values: pd.Series, row: int) -> memoryview:
    """The UTF-8 of one text: a view of pyarrow's buffer where pandas keeps it there (indexing
    the array would copy it)."""
    if getattr(values.dtype, "storage", None) == "pyarrow":
        for chunk in values.array.__arrow_array__().chunks:
            if row >= len(chunk):
                row -= len(chunk)
                continue
            offset_type = {"string": np.int32, "large_string": np.int64}.get(str(chunk.type))
            if offset_type is None:
                break
            _, offsets, data = chunk.buffers()
            start, stop = np.frombuffer(offsets, offset_type)[chunk.offset + row :][:2].tolist()
            return memoryview(data)[start:stop]
    return memoryview(values.iloc[row].encode())


def _write_quoted(rows: bytearray, text: memoryview) -> None:
    """UTF-8 ``text`` as csv's writer writes it, quoted where csv would quote it: csv decides by
    the characters a text holds, so a probe of those decides for it."""
    first = bytes(text[:4]).decode("utf-8", "ignore")[:1]
    last = bytes(text[-4:]).decode("utf-8", "ignore")[-1:]
    probe = first + "".join(c for c in ',"\r\n' if records.holds(text, ord(c))) + last
    written = io.StringIO()
    csv.writer(written, lineterminator="\n").writerow([probe])
    quoted = written.getvalue().startswith('"')
    rows += b'"' if quoted else b""
    for start in range(0, len(text), PIECE_BYTES):
        piece = bytes(text[start : start + PIECE_BYTES])
        rows += piece.replace(b'"', b'""') if quoted else piece
    rows += b'"' if quoted else b""
