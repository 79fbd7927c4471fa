"""One Dask task: parse a batch of CSV records, classify it, serialise the result.

Every record of a batch comes back either as a classified row or as a reject
with its line number and reason, so the counts always balance.
"""

import csv
import importlib
import io
from dataclasses import dataclass, field
from functools import cache

import pandas as pd

from classifier import records

RESULT_COLUMN = "CLASSIFICATION"
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


class ClassifierError(RuntimeError):
    """The user's classifier raised; names the batch it raised on."""

    def __init__(self, first_line: int, detail: str):
        super().__init__(first_line, detail)
        self.first_line = first_line
        self.detail = detail

    def __str__(self) -> str:
        return (
            f"the classifier raised on the batch starting at input line {self.first_line}:"
            f" {self.detail}"
        )


@cache
def load_classifier(path: str):
    """``module:function`` → the function."""
    module_name, _, function_name = path.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"job.classifier {path!r} cannot be imported: {error}") from error
    if not callable(function):
        raise ValueError(f"job.classifier {path!r} is not a function")
    return function


def results_header(header: bytes) -> bytes:
    """The results' header row: the input's columns and the classification."""
    frame = pd.read_csv(io.BytesIO(header), nrows=0, index_col=READ_OPTIONS["index_col"])
    frame = frame.reindex(columns=[*frame.columns, RESULT_COLUMN])
    return frame.to_csv(lineterminator="\n").encode()


def classify_frame(frame: pd.DataFrame, classifier: str, slowness: int) -> pd.DataFrame:
    values = load_classifier(classifier)(frame, slowness=slowness)
    if isinstance(values, pd.DataFrame):
        values = values[RESULT_COLUMN]
    frame[RESULT_COLUMN] = values.to_numpy() if isinstance(values, pd.Series) else values
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
    frame = pd.DataFrame(kept, columns=columns, dtype=str).set_index(columns[0])
    return frame, rejects


def process(batch: Batch, classifier: str, slowness: int, on_error: str = "fail") -> BatchResult:
    """The task each worker runs. With ``on_error="reject"`` a batch the classifier raises on
    comes back as rejects, each with the exception, instead of failing the run."""
    columns = _columns(batch.header)
    frame = _parse_fast(batch, columns)
    rejects = []
    if frame is None:
        frame, rejects = _parse_checked(batch, columns)
    try:
        frame = classify_frame(frame, classifier, slowness)
    except Exception as error:  # the user's code: report which batch, keep the type
        detail = f"{type(error).__name__}: {error}"
        if on_error != "reject":
            raise ClassifierError(batch.first_line, detail) from error
        rejected = {line for line, _, _ in rejects}
        reason = str(ClassifierError(batch.first_line, detail))
        rejects += [(n, reason, _shown(r)) for n, r in _lines(batch) if n not in rejected]
        return BatchResult(batch.first_line, b"", 0, sorted(rejects))
    rows = frame.to_csv(header=False, lineterminator="\n").encode()
    return BatchResult(batch.first_line, rows, len(frame), rejects)
