"""Messy input through the real pipeline, read from a file and from S3 (moto's server).

Every row comes out classified, as the single process classifies it, or in rejects.csv
with its input line and reason; the manifest balances.
"""

import csv
import json
import os

import pandas as pd
import pytest
from app_processes import Processes
from test_pipeline import HEADER, SLOWNESS, WAIT, _cli, cluster, procs  # noqa: F401

pytestmark = pytest.mark.slow

GOOD = [b"%d,SKU-%d,%d.5,Acme,widget %d\n" % (n, n, n, n) for n in range(1, 41)]


def _rows(*changes: tuple[int, bytes]) -> bytes:
    """The header and GOOD, with record ``index`` (0-based, line index + 2) replaced."""
    rows = list(GOOD)
    for index, record in changes:
        rows[index] = record
    return HEADER + b"".join(rows)


TEN_MB = b'77,SKU-77,1.0,"Big, Co","' + b'x, ""y""\n' * (1024 * 1024) + b'"\n'

# name → (input, {line: words of the reason}); every other record must come out classified
CASES = {
    "too-many-fields": (
        _rows((4, b'5,SKU-5,1.0,Acme,"a, b",extra\n')),
        {6: "expected 5 fields, got 6"},
    ),
    "too-few-fields": (_rows((9, b"10,SKU-10,1.0,Acme\n")), {11: "expected 5 fields, got 4"}),
    "missing-id": (_rows((0, b",SKU-1,1.0,Acme,no id\n")), {2: "missing ID"}),
    "not-utf-8": (_rows((30, b"31,SKU-31,1.0,Acme,caf\xe9\n")), {32: "not UTF-8 (byte 0xe9"}),
    "byte-order-mark": (b"\xef\xbb\xbf" + _rows(), {}),
    "crlf": (_rows().replace(b"\n", b"\r\n"), {}),
    "blank-lines": (_rows((3, b"\n"), (20, b"\r\n")), {5: "blank line", 22: "blank line"}),
    "quoted-separators": (
        _rows(
            (1, b'2,SKU-2,1.0,"Acme, Inc.","say ""hi"", then\nleave"\n'),
            (2, b'3,SKU-3,1.0,"The ""Best"" Co","two\r\nlines, "","" here"\n'),
        ),
        {},
    ),
    "ten-mb-field": (_rows() + TEN_MB + b"78,SKU-78,1.0,Acme,after\n", {}),
    "duplicate-ids": (_rows((7, GOOD[6]), (8, GOOD[6].replace(b"widget", b"gadget"))), {}),
    "unclosed-quote": (_rows((35, b'36,SKU-36,1.0,Acme,"never closed\n')), {37: "never closed"}),
    "bare-quote": (_rows((12, b'13,SKU-13,1.0,Acme,5" bolt\n')), {}),
    "header-only": (HEADER, {}),
}


def _kept_rows(data: bytes, rejected_lines) -> pd.DataFrame:
    """What the single process reads from ``data`` once the rejected records are taken out."""
    lines = data.split(b"\n")
    for line in sorted(rejected_lines, reverse=True):
        record_end = line  # a rejected record here is one line, or runs to the end
        while record_end < len(lines) and lines[record_end - 1].count(b'"') % 2:
            record_end = len(lines)
        del lines[line - 1 : record_end]
    return b"\n".join(lines)


@pytest.fixture
def sources(tmp_path, s3):
    """How the sender reads the input: ``file`` or ``s3`` (moto's server on loopback)."""

    def place(kind: str, data: bytes) -> list[str]:
        path = tmp_path / "input.csv"
        path.write_bytes(data)
        if kind == "file":
            return ["--file", str(path)]
        s3.create_bucket(Bucket="rows")
        s3.put_object(Bucket="rows", Key="input.csv", Body=data)
        return ["--s3", "s3://rows/input.csv"]

    return place


def _run(cluster, tmp_path, send_args, *source_args, wait_for=("sender", "source", "receiver")):  # noqa: F811
    """Receiver, source and sender (with this process's AWS settings); the exit statuses of
    those in ``wait_for`` (the others are stopped, as the controller would)."""
    env = {**cluster["env"], **{k: v for k, v in os.environ.items() if k.startswith("AWS_")}}
    processes = Processes(tmp_path, env, WAIT)
    out = tmp_path / "out"
    try:
        receiver, source, port = processes.start_receiver_and_source(
            cluster["address"], out, "--slowness", str(SLOWNESS), "--batch-rows", "7", *source_args
        )
        sender = processes.start(
            "sender", "classifier", "send", "--to", f"127.0.0.1:{port}", *send_args
        )
        started = {"sender": sender, "source": source, "receiver": receiver}
        codes = {name: processes.wait(name, started[name]) for name in wait_for}
    finally:
        processes.stop_all()
    logs = {name: processes.log(name) for name in started}
    manifest = json.loads((out / "manifest.json").read_text())
    return codes, logs, out, manifest


def _rejects(out) -> list[list[str]]:
    if not (out / "rejects.csv").exists():
        return []
    with open(out / "rejects.csv", newline="", encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["line", "reason", "record"]
    return rows[1:]


@pytest.mark.parametrize("kind", ["file", "s3"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_row_is_classified_or_rejected_with_its_line(case, kind, cluster, sources, tmp_path):  # noqa: F811
    data, expected = CASES[case]
    codes, logs, out, manifest = _run(cluster, tmp_path, sources(kind, data))
    assert codes == {"sender": 0, "source": 0, "receiver": 0}, logs

    rejects = _rejects(out)
    assert [int(line) for line, _, _ in rejects] == sorted(expected)
    for line, reason, _ in rejects:
        assert expected[int(line)] in reason, (line, reason)

    kept = tmp_path / "kept.csv"
    kept.write_bytes(_kept_rows(data, expected))
    reference = tmp_path / "reference.csv"
    _cli(cluster, "classify", str(kept), str(reference), "--slowness", str(SLOWNESS))
    assert (out / "results.csv").read_bytes() == reference.read_bytes()

    rows_out = len(pd.read_csv(reference, dtype=str, keep_default_na=False))
    assert manifest["rows_out"] == rows_out
    assert manifest["rows_rejected"] == len(expected)
    assert manifest["rows_in"] == rows_out + len(expected)
    assert manifest["balanced"] is True and manifest["complete"] is True


def test_an_empty_input_fails_the_run_saying_so(cluster, tmp_path, sources):  # noqa: F811
    codes, logs, out, manifest = _run(cluster, tmp_path, sources("file", b""))
    assert codes["source"] == 1 and codes["receiver"] == 1, logs
    assert manifest["error"] == "source: the input is empty: not even a header row"
    assert (manifest["rows_in"], manifest["rows_out"], manifest["rows_rejected"]) == (0, 0, 0)
    assert manifest["balanced"] is True and manifest["complete"] is False
    assert manifest["partial"] is False


def test_a_record_over_the_frame_limit_stops_the_sender_naming_its_line(cluster, tmp_path, sources):  # noqa: F811
    data = _rows((5, b"6,SKU-6,1.0,Acme," + b"y" * 200_000 + b"\n"))
    send_args = [*sources("file", data), "--max-frame-bytes", "100000"]
    codes, logs, out, manifest = _run(
        cluster, tmp_path, send_args, "--max-frame-bytes", "100000", wait_for=["sender"]
    )
    assert codes["sender"] == 2, logs
    assert "line 7: a record longer than job.max_frame_bytes (100000 bytes)" in logs["sender"], logs
    assert "Traceback" not in logs["sender"]
    # the source waits for a sender that sends; the controller stops it and the receiver
    assert "refused a connection from" in logs["source"]
    assert manifest["complete"] is False and manifest["partial"] is True


BAD = {3: b"4,SKU-4,1.0\n", 11: b",SKU-12,1.0,Acme,x\n", 25: b"26,SKU-26,1.0,Acme,x,y\n"}


@pytest.mark.parametrize(
    ("limit", "fails"), [("2", True), ("3", False), ("0.05", True), ("0.1", False)]
)
def test_max_rejects_fails_the_run_past_a_count_or_a_fraction(
    cluster,  # noqa: F811
    tmp_path,
    sources,
    limit,
    fails,
):
    data = _rows(*BAD.items())
    codes, logs, out, manifest = _run(
        cluster, tmp_path, sources("file", data), "--max-rejects", limit
    )
    rejects = _rejects(out)
    if not fails:
        assert codes == {"sender": 0, "source": 0, "receiver": 0}, logs
        assert [int(line) for line, _, _ in rejects] == [index + 2 for index in BAD]
        assert manifest["complete"] and manifest["balanced"]
        return
    assert codes["source"] == 1 and codes["receiver"] == 1, logs
    error = manifest["error"]
    assert "rows rejected" in error and "rejects.csv" in error, error
    assert f"more than job.max_rejects ({'2 rows' if limit == '2' else '0.05 of the rows in'})" in (
        error
    )
    if limit == "0.05":  # known at the end: every row was read and counted
        assert error.startswith("source: 3 rows rejected of 40 in (7.5 %)")
        assert (manifest["rows_in"], manifest["rows_out"], manifest["rows_rejected"]) == (40, 37, 3)
        assert manifest["balanced"] is True and manifest["partial"] is False
    else:  # a count stops the run as soon as it is passed
        assert error.startswith("source: 3 rows rejected, more than")
        assert len(rejects) == 3
        assert manifest["partial"] is True
    assert manifest["complete"] is False


def test_on_error_reject_rejects_the_batch_and_carries_on(cluster, tmp_path, sources):  # noqa: F811
    """burst_test_exploding (see test_pipeline) raises on a batch holding row 1234."""
    data = _rows((19, b"1234,SKU-1234,1.0,Acme,widget\n"))
    codes, logs, out, manifest = _run(
        cluster,
        tmp_path,
        sources("file", data),
        *("--classifier", "burst_test_exploding:explode", "--on-error", "reject"),
    )
    assert codes == {"sender": 0, "source": 0, "receiver": 0}, logs
    rejects = _rejects(out)
    # 7 rows per batch: the batches start at lines 2, 9, 16, ...; row 1234 is on line 21
    assert [int(line) for line, _, _ in rejects] == list(range(16, 23))
    reason = (
        "the classifier raised on the batch starting at input line 16:"
        " BlackBoxBroke: cannot classify row 1234"
    )
    assert {r for _, r, _ in rejects} == {reason}
    assert [record for _, _, record in rejects][5] == "1234,SKU-1234,1.0,Acme,widget"
    ids = pd.read_csv(out / "results.csv", dtype=str)["ID"].tolist()
    assert ids == [str(n) for n in range(1, 15)] + [str(n) for n in range(22, 41)]
    assert (manifest["rows_in"], manifest["rows_out"], manifest["rows_rejected"]) == (40, 33, 7)
    assert manifest["balanced"] and manifest["complete"]
