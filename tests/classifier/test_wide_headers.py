"""Wide headers cost bounded time and memory: job.max_columns is checked before anything is
built per column, by the sender and by the source, and a header under it costs time linear
in its columns."""

import io
import socket
import time

import pandas as pd
import pytest
from app_processes import Processes
from test_bad_input import _run
from test_pipeline import SLOWNESS, WAIT, cluster  # noqa: F401

from classifier import batches, framing, records, source

pytestmark = pytest.mark.slow

WIDE = 2_000_000
LIMIT_TEXT = f"line 1: the header has {WIDE} columns, more than job.max_columns (16384)"


def header(columns: int) -> bytes:
    return b",".join(b"c%d" % i for i in range(columns)) + b"\n"


@pytest.mark.parametrize(
    ("data", "limit", "expected"),
    [
        (b"ID,SKU,FLUX\n1,2,3\n", 3, None),
        (b"ID,SKU,FLUX\n1,2,3\n", 2, "the header has 3 columns, more than job.max_columns (2)"),
        (b'ID,"a, b","c\nd"\n1,2,3\n', 3, None),  # quoted commas and a line break: 3 columns
        (b'ID,5" bolt,x,y\n1,2,3,4\n', 3, "the header has 4 columns"),  # not RFC 4180
        (b"ID,SKU", 2, None),  # the header alone, without its newline
    ],
)
def test_columns_are_counted_as_csv_reads_them(data, limit, expected):
    problem = records.columns_problem(data, limit)
    assert problem == expected or (expected and problem.startswith(expected)), problem


def test_a_sender_refuses_a_two_million_column_header_within_seconds(cluster, tmp_path):  # noqa: F811
    path = tmp_path / "wide.csv"
    path.write_bytes(header(WIDE) + b"".join(b"%d,x\n" % i for i in range(2000)))
    began = time.monotonic()
    codes, logs, _, manifest = _run(cluster, tmp_path, ["--file", str(path)], wait_for=("sender",))
    assert time.monotonic() - began < 10
    assert codes == {"sender": 2}, logs
    assert f"send: {LIMIT_TEXT}" in logs["sender"]
    assert manifest["rows_out"] == 0


@pytest.mark.parametrize("size", [b"", framing.size_frame(bytes=2**40)], ids=["plain", "sized"])
def test_the_source_fails_a_run_whose_sender_sends_a_wide_header(cluster, tmp_path, size):  # noqa: F811
    """A sender framed as the seed's send.py, which checks nothing: the source stops the run,
    whether or not the sender first said how much input follows."""
    processes = Processes(tmp_path, cluster["env"], WAIT)
    out = tmp_path / "out"
    try:
        receiver, source_process, port = processes.start_receiver_and_source(
            cluster["address"], out, "--slowness", str(SLOWNESS)
        )
        began = None
        deadline = time.monotonic() + WAIT
        while began is None:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                began = time.monotonic()
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with sock:
            sock.sendall(
                (framing.encode(size) if size else b"")
                + framing.encode(header(WIDE))
                + framing.encode(b"1,x\n")
            )
            sock.sendall(framing.encode(framing.END))
            codes = [processes.wait("source", source_process), processes.wait("receiver", receiver)]
        seconds = time.monotonic() - began
    finally:
        processes.stop_all()
    assert codes == [1, 1], processes.log("source")
    assert seconds < 10
    assert f"source: {LIMIT_TEXT}" in (out / "manifest.json").read_text()


def _header_seconds(columns: int) -> float:
    """The CPU seconds burst's own work on a header of ``columns`` takes (the checks, and
    cutting the header and three rows into a batch); the least of three tries."""
    data = header(columns)
    rows = (b",".join(b"%d" % i for i in range(columns)) + b"\n") * 3
    best = float("inf")
    for _ in range(3):
        began = time.process_time()
        assert records.header_problem(data) is None
        assert records.columns_problem(data, columns) is None
        batcher = source.Batcher(3, columns)
        cut = [*batcher.feed(data + rows)]  # a row over 1 MiB is a batch of its own
        best = min(best, time.process_time() - began)
    assert sum(batch.records for batch in cut) == 3
    return best


def test_a_header_under_the_limit_costs_time_linear_in_its_columns():
    small, large = _header_seconds(100_000), _header_seconds(400_000)
    # four times the columns: about four times the time; a cost per column that grew with
    # the columns (quadratic) would be sixteen
    assert large / small < 8, (small, large)


def test_the_results_header_is_the_single_process_s():
    data = b'ID,b,"c, d",b,,"e\nf"\n'
    frame = pd.read_csv(io.BytesIO(data + b"1,2,3,4,5,6\n"), **batches.READ_OPTIONS)
    frame[batches.RESULT_COLUMN] = ["0.5"]
    expected = frame.to_csv(lineterminator="\n").encode().split(b"\n1,")[0] + b"\n"
    assert batches.results_header(data) == expected
