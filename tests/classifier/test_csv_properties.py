"""Property tests of the CSV path: burst's results equal the single-process reference.

The generator writes CSV the way people and spreadsheets do: fields with commas, quotes,
newlines (LF, CRLF, a lone CR), spaces and non-ASCII text, each quoted (RFC 4180, quotes
doubled) or, when it may be, left bare; a quote inside an unquoted field (``5" bolt``),
which pandas and csv read as text; LF or CRLF line ends, a missing final newline, a BOM.
It only writes what pandas reads back as the table it meant, so the reference never fails.

The first property runs burst's own code in this process (the sender's reads, the source's
Batcher, the worker's batches.process) with small reads and batches, so records straddle
both; the second runs the same inputs through real processes (Dask scheduler and workers,
receiver, source, sender). Two tests pin inputs that went wrong before.
"""

import io
import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from app_processes import Processes
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from test_pipeline import cluster  # noqa: F401 (a fixture used below)

from classifier import batches, calling, records, reference, sender, source

pytestmark = pytest.mark.slow

CLASSIFIER = "classifier.black_box:classify"
SLOWNESS = 1
PROCESS_WAIT = 30  # seconds; the inputs are small, and a refused sender leaves the source waiting
BOM = "\ufeff"
MUST_QUOTE = ',"\n\r'  # a field with any of these is quoted

ATOMS = [",", '"', "\n", "\r\n", "\r", " ", "  ", "é", "€", "😀", "\t", "a", "bolt", "5", "0"]
ATOMS += ["007", "NA", "null", "'", "#", "x y", "Acme, Inc.", 'The "Best" Co', ""]
UNQUOTED_ATOMS = [a for a in ATOMS if not any(c in a for c in MUST_QUOTE)]

text = st.lists(
    st.one_of(st.sampled_from(ATOMS), st.characters(codec="utf-8", exclude_categories=["Cs"])),
    max_size=6,
).map("".join)
nonempty_text = text.filter(bool)


@st.composite
def field(draw, value: st.SearchStrategy[str] = text) -> tuple[str, str]:
    """(the value, the field as written): quoted, bare, or with a quote inside a bare field."""
    if draw(st.integers(0, 9)) == 0:  # `5" bolt`: a quote that is text, not quoting
        head = draw(st.lists(st.sampled_from(UNQUOTED_ATOMS), max_size=3).map("".join))
        head = head or "5"
        tail = draw(st.lists(st.sampled_from([*UNQUOTED_ATOMS, '"']), max_size=3).map("".join))
        written = f'{head}"{tail}'
        return written, written
    text_value = draw(value)
    if any(c in text_value for c in MUST_QUOTE) or draw(st.booleans()):
        return text_value, '"' + text_value.replace('"', '""') + '"'
    return text_value, text_value


def _value(written_field: tuple[str, str]) -> str:
    return written_field[0]


@st.composite
def csv_files(draw, max_rows: int, min_rows: int = 1) -> tuple[bytes, list[str], list[list[str]]]:
    """(the file, its header, its rows as pandas reads them with dtype=str)."""
    others = draw(st.integers(1, 5))
    size = others + 1
    names = st.lists(field(nonempty_text), min_size=size, max_size=size, unique_by=_value)
    header = draw(names)
    if draw(st.booleans()) and all(name != "ID" for name, _ in header[1:]):
        header[0] = ("ID", "ID")
    ids = draw(
        st.lists(field(nonempty_text), min_size=min_rows, max_size=max_rows, unique_by=_value)
    )
    rows = [[row_id, *draw(st.lists(field(), min_size=others, max_size=others))] for row_id in ids]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [",".join(written for _, written in record) for record in [header, *rows]]
    body = newline.join(lines) + (newline if draw(st.booleans()) else "")
    bom = BOM if draw(st.integers(0, 7)) == 0 else ""
    data = (bom + body).encode()
    return data, [v for v, _ in header], [[v for v, _ in record] for record in rows]


def _pandas_reads(data: bytes, header: list[str], rows: list[list[str]]) -> None:
    """The generator wrote what it meant: pandas reads the header and rows back unchanged."""
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    assert list(frame.columns) == header, data
    assert frame.to_numpy().tolist() == rows, data


def _reference(data: bytes, slowness: int) -> tuple[bytes, int]:
    """What ``classify`` writes for ``data``, and the rows it read."""
    with tempfile.TemporaryDirectory() as directory:
        given_csv, target = Path(directory, "input.csv"), Path(directory, "reference.csv")
        given_csv.write_bytes(data)
        call = calling.Call(CLASSIFIER, slowness)
        rows = reference.classify_file(str(given_csv), str(target), call)
        return target.read_bytes(), rows


def _burst_in_process(
    data: bytes, one_per_frame: bool, read_bytes: int, gather_bytes: int, batch_rows: int
):
    """burst's own code in this process: (payloads, batches, their results, the results file)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sender, "READ_BYTES", read_bytes)
        patch.setattr(source.Batcher, "GATHER_BYTES", gather_bytes)
        payloads = list(sender.stream_payloads(io.BytesIO(data), one_per_frame))
        batcher = source.Batcher(batch_rows)
        cut = [batch for payload in payloads for batch in batcher.feed(payload)]
        cut += batcher.finish()
    assert batcher.rows_in == sum(batch.records for batch in cut)
    results = [batches.process(batch, CLASSIFIER, SLOWNESS) for batch in cut]
    got = batches.results_header(batcher.header) + b"".join(result.rows for result in results)
    return payloads, cut, results, got


IN_PROCESS = {
    "one_per_frame": st.booleans(),
    "read_bytes": st.integers(1, 64),
    "gather_bytes": st.sampled_from([1, 16, 256, source.Batcher.GATHER_BYTES]),
    "batch_rows": st.integers(1, 50),
}
BARE_QUOTE = (b'ID,A\n1,5" bolt\n2,"b\n"\n', ["ID", "A"], [["1", '5" bolt'], ["2", "b\n"]])


@settings(max_examples=200, deadline=None, database=None)
@given(file=csv_files(max_rows=40), **IN_PROCESS)
@example(BARE_QUOTE, False, 4, 1, 1)
def test_burst_code_path_matches_the_reference(
    file, one_per_frame, read_bytes, gather_bytes, batch_rows
):
    data, header, rows = file
    _pandas_reads(data, header, rows)
    expected, expected_rows = _reference(data, SLOWNESS)
    assert expected_rows == len(rows)

    payloads, cut, results, got = _burst_in_process(
        data, one_per_frame, read_bytes, gather_bytes, batch_rows
    )
    assert b"".join(payloads) == data.removeprefix(records.BOM)  # the sender drops a BOM
    assert all(0 < batch.records <= batch_rows for batch in cut)
    assert sum(batch.records for batch in cut) == len(rows)
    assert [reject for result in results for reject in result.rejects] == []
    assert sum(result.rows_out for result in results) == len(rows)
    assert got == expected


@settings(max_examples=30, deadline=None, database=None)
@given(file=csv_files(min_rows=0, max_rows=0), **IN_PROCESS)
@example((b"ID,A\n", ["ID", "A"], []), False, 64, 256, 1)
@example((b"\xef\xbb\xbfID,A", ["ID", "A"], []), True, 1, 1, 1)
def test_header_only_input_matches_the_reference(
    file, one_per_frame, read_bytes, gather_bytes, batch_rows
):
    """A file of just a header: the header and CLASSIFICATION, once."""
    data, header, _ = file
    _pandas_reads(data, header, [])
    expected, expected_rows = _reference(data, SLOWNESS)
    assert expected_rows == 0
    _, cut, _, got = _burst_in_process(data, one_per_frame, read_bytes, gather_bytes, batch_rows)
    assert cut == []
    assert got == expected
    assert got.count(b"CLASSIFICATION") == 1


@pytest.mark.parametrize(
    "file",
    [
        (b'\xef\xbb\xbf"a\nb",X\n1,2\n', ["a\nb", "X"], [["1", "2"]]),
        (b'\xef\xbb\xbf"a\rb",X\n1,2\n2,3\n', ["a\rb", "X"], [["1", "2"], ["2", "3"]]),
        (b'\xef\xbb\xbf"\n",5"\n5",5"', ["\n", '5"'], [['5"', '5"']]),
    ],
    ids=["newline", "carriage-return", "then-a-bare-quote"],
)
def test_a_bom_then_a_quoted_header_with_a_line_break(file):
    """Found by the property above: after a UTF-8 BOM (Excel's "CSV UTF-8") the first quote
    did not open a field for burst, which cut the header at the line break inside it or made
    every row part of it. The sender and the source now drop the BOM, as pandas does."""
    data, header, rows = file
    _pandas_reads(data, header, rows)
    expected, _ = _reference(data, SLOWNESS)
    _, cut, results, got = _burst_in_process(data, False, 64, 256, 1)
    assert sum(batch.records for batch in cut) == len(rows)
    assert [reject for result in results for reject in result.rejects] == []
    assert got == expected


@pytest.mark.parametrize("odd_row", [b'1,5" bolt\n', b'1,"a\rb"\n'], ids=["bare-quote", "lone-cr"])
def test_a_field_longer_than_the_csv_modules_limit(odd_row):
    """A batch that is not plain RFC 4180 (a bare quote, a lone CR in a quoted field) is parsed
    with the csv module, whose fields stopped at 131072 characters by default; pandas has no
    such limit, and neither does burst now."""
    long_field = "x" * (2 * 131072)
    data = b"ID,X\n" + odd_row + b"2," + long_field.encode() + b"\n3,c\n"
    expected, expected_rows = _reference(data, SLOWNESS)
    assert expected_rows == 3
    _, cut, results, got = _burst_in_process(data, False, sender.READ_BYTES, 256 * 1024, 50)
    assert [reject for result in results for reject in result.rejects] == []
    assert got == expected


def _run_burst(dask: dict, directory: Path, data: bytes, batch_rows: int, one_per_frame: bool):
    """Send ``data`` through real processes: (the receiver's exit code, its output directory,
    its log)."""
    input_csv, out = directory / "input.csv", directory / "out"
    input_csv.write_bytes(data)
    procs = Processes(directory, dask["env"], PROCESS_WAIT)
    try:
        receiver, source_process, port = procs.start_receiver_and_source(
            dask["address"],
            out,
            *("--slowness", str(SLOWNESS), "--batch-rows", str(batch_rows)),
            *("--max-in-flight", "2", "--connect-timeout", "60"),
        )
        send = ["classifier", "send", "--to", f"127.0.0.1:{port}", "--file", str(input_csv)]
        sender_process = procs.start("sender", *send, *(["--one-record-per-frame"] * one_per_frame))
        assert procs.wait("sender", sender_process) == 0, procs.log("sender")
        assert procs.wait("source", source_process) == 0, procs.log("source")
        return procs.wait("receiver", receiver), out, procs.log("receiver")
    finally:
        procs.stop_all()


def test_real_pipeline_matches_the_reference(cluster):  # noqa: F811 (the imported fixture)
    """The same inputs through real processes. Not shrunk (each example starts three
    processes): the in-process property above shrinks what both find."""

    @settings(
        max_examples=10,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(file=csv_files(max_rows=60), one_per_frame=st.booleans(), batch_rows=st.integers(1, 20))
    def check(file, one_per_frame, batch_rows):
        data, header, rows = file
        _pandas_reads(data, header, rows)
        expected, _ = _reference(data, SLOWNESS)
        with tempfile.TemporaryDirectory() as directory:
            code, out, log = _run_burst(cluster, Path(directory), data, batch_rows, one_per_frame)
            assert code == 0, log
            assert (out / "results.csv").read_bytes() == expected
            manifest = json.loads((out / "manifest.json").read_text())
            assert not (out / "rejects.csv").exists()
        assert manifest["complete"] is True, manifest
        assert manifest["error"] is None, manifest
        assert manifest["rows_in"] == manifest["rows_out"] == len(rows), manifest
        assert manifest["rows_rejected"] == 0, manifest
        assert manifest["balanced"] is True, manifest

    check()


@settings(max_examples=200, deadline=None, database=None)
@given(
    file=csv_files(max_rows=40),
    long_record=st.sampled_from([0, 1, 8, 32]),
    batch_rows=st.integers(1, 50),
)
def test_long_records_read_and_written_by_burst_match_the_reference(file, long_record, batch_rows):
    """Records and texts over ``batches.LONG_RECORD`` bytes, which burst splits and writes itself
    instead of pandas' parser and csv's writer, give the reference's results byte for byte."""
    data, header, rows = file
    _pandas_reads(data, header, rows)
    expected, _ = _reference(data, SLOWNESS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batches, "LONG_RECORD", long_record)
        _, cut, results, got = _burst_in_process(data, False, 64, 256, batch_rows)
    assert [reject for result in results for reject in result.rejects] == []
    assert sum(result.rows_out for result in results) == len(rows)
    assert got == expected
