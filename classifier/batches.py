"""One Dask task: parse a batch of CSV records, classify it, serialise the result.

Every record of a batch comes back either as a classified row or as a reject
with its line number and reason, so the counts always balance.
"""

import csv
import io
from dataclasses import dataclass, field

import pandas as pd

from classifier import records
from classifier.calling import RESULT_COLUMN, SLOWNESS, Call, ClassifierError, Unusable, raised

READ_OPTIONS = {"dtype": str, "keep_default_na": False, "index_col": 0}
SHOWN_BYTES = 4096  # of a rejected record, in rejects.csv


@dataclass(frozen=True)
class Batch:
    header: bytes
    data: bytes
    first_line: int
    records: int


@dataclass
class BatchResult:
    first_line: int
    rows: bytes
    rows_out: int
    rejects: list[tuple[int, str, str]] = field(default_factory=list)


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


def _parse_fast(batch: Batch, columns: list[str]) -> pd.DataFrame | None:
    """pandas' parser, for an RFC 4180 batch whose every record has the header's fields.

    pandas also ends a line at a lone carriage return, so a batch with one goes the slow way.
    """
    if batch.data.count(b"\r") != batch.data.count(b"\r\n"):
        return None
    fields = records.fields_per_record(batch.data)
    if fields is None or len(fields) != batch.records or (fields != len(columns)).any():
        return None
    try:
        frame = pd.read_csv(_Joined(batch.header, batch.data), **READ_OPTIONS)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError):
        return None
    if len(frame) != batch.records or (frame.index == "").any():
        return None
    return frame


def _shown(record: bytes) -> str:
    """A rejected record as rejects.csv shows it: its text, cut after SHOWN_BYTES."""
    record = record.rstrip(b"\r\n")
    cut = f"… ({len(record)} bytes in all)" if len(record) > SHOWN_BYTES else ""
    return record[:SHOWN_BYTES].decode("utf-8", "backslashreplace") + cut


def _lines(batch: Batch):
    """(input line, record) for each record of the batch."""
    line = batch.first_line
    for record in records.iter_records(batch.data):
        yield line, record
        line += record.count(b"\n")


def _reason(record: bytes, columns: list[str]) -> tuple[str | None, list[str]]:
    """Why a record cannot be classified (None if it can), and its fields."""
    try:
        text = record.decode("utf-8")
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


def _parse_checked(
    batch: Batch, columns: list[str]
) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    kept, rejects = [], []
    for line, record in _lines(batch):
        reason, fields = _reason(record, columns)
        if reason:
            rejects.append((line, reason, _shown(record)))
        else:
            kept.append(fields)
    empty = _empty(batch.header)
    index = pd.Index([fields[0] for fields in kept], dtype=str, name=empty.index.name)
    frame = pd.DataFrame([fields[1:] for fields in kept], index, empty.columns, dtype=str)
    return frame, rejects


def process(
    batch: Batch,
    classifier: str | Call,
    slowness: int = SLOWNESS,
    on_error: str = "fail",
) -> BatchResult:
    """The task each worker runs. With ``on_error="reject"`` a batch the classifier raises on
    comes back as rejects, each with the exception, instead of failing the run; a classifier
    that cannot be called or returns no value per row fails it, naming the batch."""
    call = classifier if isinstance(classifier, Call) else Call(classifier, slowness)
    columns = _columns(batch.header)
    frame = _parse_fast(batch, columns)
    rejects = []
    if frame is None:
        frame, rejects = _parse_checked(batch, columns)
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
        rejects += [(n, reason, _shown(r)) for n, r in _lines(batch) if n not in rejected]
        return BatchResult(batch.first_line, b"", 0, sorted(rejects))
    rows = frame.to_csv(header=False, lineterminator="\n").encode()
    return BatchResult(batch.first_line, rows, len(frame), rejects)
