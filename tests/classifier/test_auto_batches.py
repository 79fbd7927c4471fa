"""``job.batch_rows: auto``: the source sizes batches from what the workers measure.

Real processes on 127.0.0.1: burst's Dask scheduler and two workers (with their nannies),
receiver, source and sender; every process is stopped in the teardown. Each run's results
must be the single process's, byte for byte.
"""

import csv
import json
import os
import re
import signal
import time
import uuid

import pytest
from app_processes import Processes
from conftest import processes_with_env
from distributed import Client
from test_pipeline import _cli, _env

from classifier import source

WAIT = 120
SLOWER = """
import time

import pandas as pd


def classify(frame):
    # a row costs 0.25 ms up to ID 2000 and 2 ms after: the classifier gets 8 times slower
    ids = frame.index.astype(int)
    time.sleep(sum(0.00025 if i <= 2000 else 0.002 for i in ids))
    return pd.Series(ids % 7, index=frame.index)


def explode(frame):
    if "1000" in frame.index:
        raise ValueError("row 1000")
    return classify(frame)
"""
SIZED = re.compile(r"batches of (\d+) rows now: ([\d.e+-]+) ms a row")


@pytest.fixture
def job(tmp_path):
    """``job(rows, *source_args)``: a cluster of two workers and a run of ``rows`` synthetic
    rows with the classifier above; the processes, their log directory and the input."""
    marker = uuid.uuid4().hex
    (tmp_path / "burst_test_slower.py").write_text(SLOWER)
    env = {**_env(tmp_path), "BURST_TEST_AUTO": marker}
    processes = Processes(tmp_path, env, WAIT)

    def start(rows: int, *source_args: str) -> dict:
        address = processes.start_cluster(["auto-0", "auto-1"])
        with Client(address, timeout=WAIT) as client:
            client.wait_for_workers(2, timeout=WAIT)
            names = {
                a: w["name"] for a, w in client.scheduler_info(n_workers=-1)["workers"].items()
            }
            workers = [(f"{a} ({names[a]})", pid) for a, pid in client.run(os.getpid).items()]
        receiver, job_source, port = processes.start_receiver_and_source(
            address,
            tmp_path / "out",
            *("--classifier", "burst_test_slower:classify", *source_args),
        )
        sender = processes.start(
            "sender", "classifier", "send", "--to", f"127.0.0.1:{port}", "--rows", str(rows)
        )
        return {
            "workers": workers,
            "run": [("sender", sender), ("source", job_source), ("receiver", receiver)],
        }

    try:
        yield start, processes
    finally:
        processes.stop_all()
    assert processes_with_env(f"BURST_TEST_AUTO={marker}") == []


def _finish(processes: Processes, started: dict) -> None:
    codes = [processes.wait(name, process) for name, process in started["run"]]
    assert codes == [0, 0, 0], processes.log("source")


def _same_as_one_process(tmp_path, rows: int) -> None:
    env = {"env": _env(tmp_path)}
    given, expected = tmp_path / "input.csv", tmp_path / "expected.csv"
    with open(given, "wb") as stream:
        _cli(env, "generate", "--rows", str(rows), stdout=stream)
    _cli(env, "classify", str(given), str(expected), "--classifier", "burst_test_slower:classify")
    assert (tmp_path / "out" / "results.csv").read_bytes() == expected.read_bytes()


@pytest.mark.slow
def test_batch_sizes_follow_a_classifier_that_gets_slower(job, tmp_path):
    start, processes = job
    _finish(processes, start(12_000))
    log = (tmp_path / "source.log").read_text()
    sized = [(int(rows), float(ms)) for rows, ms in SIZED.findall(log)]
    fast = [rows for rows, ms in sized if ms < 1]
    slow = [rows for rows, ms in sized if ms >= 1]
    assert fast and slow, sized
    # at 0.25 ms a row a second is 4000 rows; at 2 ms, 500 (what a task costs beyond its rows,
    # more on a loaded machine, makes both fewer; the last batches are smaller still)
    assert max(fast) >= 800, sized
    assert slow[0] <= max(fast) / 3, sized
    assert sized[0][0] > source.BatchSizer.FIRST_ROWS, sized
    _same_as_one_process(tmp_path, 12_000)


@pytest.mark.slow
def test_auto_batches_each_row_once_in_order_with_a_worker_killed(job, tmp_path):
    start, processes = job
    started = start(8000)
    deadline = time.monotonic() + WAIT
    while not SIZED.search((tmp_path / "source.log").read_text()):
        assert time.monotonic() < deadline, processes.log("source")
        time.sleep(0.05)
    killed, pid = started["workers"][0]
    os.kill(pid, signal.SIGKILL)
    _finish(processes, started)
    _same_as_one_process(tmp_path, 8000)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert (manifest["lost_workers"], manifest["stalled_workers"]) == ([killed], [])
    assert f"worker {killed} left the cluster mid-run" in processes.log("source")


@pytest.mark.slow
def test_a_fixed_batch_rows_is_kept(job, tmp_path):
    """Every batch holds 37 rows: the one the classifier raises on comes back as 37 rejects
    (``on_error: reject``), starting on a line 37 times some number after the first row's."""
    start, processes = job
    started = start(
        2000,
        *("--batch-rows", "37", "--on-error", "reject"),
        *("--classifier", "burst_test_slower:explode"),
    )
    _finish(processes, started)
    log = (tmp_path / "source.log").read_text()
    assert "batches of 37 rows, 4 in flight at most" in log, log
    assert not SIZED.search(log), log
    with open(tmp_path / "out" / "rejects.csv", newline="") as stream:
        rejects = list(csv.DictReader(stream))
    assert len(rejects) == 37
    first = int(re.search(r"batch starting at input line (\d+)", rejects[0]["reason"])[1])
    assert (first - 2) % 37 == 0
    assert {int(reject["line"]) for reject in rejects} == set(range(first, first + 37))


def _feed(
    sizer: source.BatchSizer, seconds_per_row: float, batches: int, row_bytes=90, per_task=0.0
) -> list:
    """Cut and learn ``batches`` batches of ``sizer.rows`` rows each, one after another."""
    sizes = []
    for _ in range(batches):
        rows = sizer.rows
        sizer.cut(rows, rows * row_bytes)
        sizes.append(sizer.learn(rows, per_task + rows * seconds_per_row, rows * row_bytes))
    return sizes


def test_the_sizer_grows_by_steps_to_two_seconds_of_rows_and_shrinks_at_once():
    sizer = source.BatchSizer()
    first = sizer.rows
    assert first == source.BatchSizer.FIRST_ROWS
    sizes = _feed(sizer, 0.0001, 12)  # 0.1 ms a row: 20 000 rows make two seconds
    steps = [later / earlier for earlier, later in zip([first, *sizes], sizes, strict=False)]
    assert max(steps) <= source.BatchSizer.GROWTH
    assert sizes[-1] == 20_000
    slower = _feed(sizer, 0.001, 1)  # ten times slower: the next batch is far smaller
    assert slower[0] < 20_000 / 4
    assert 1980 <= _feed(sizer, 0.001, 8)[-1] <= 2000  # and stays at two seconds of them


def test_the_sizer_tells_a_tasks_own_cost_from_its_rows_cost():
    """0.2 s a task (a loaded worker) and 0.1 ms a row: a task of 18 000 rows takes two
    seconds. Seconds ÷ rows of the small first batches (1.1 ms a row at 200 rows, 0.225 ms at
    1600) would make them grow far more slowly: 8888 rows after the second."""
    sizer = source.BatchSizer()
    sizes = _feed(sizer, 0.0001, 12, per_task=0.2)
    assert sizes[:2] == [1600, 12_800], sizes
    assert abs(sizer.task_seconds - 0.2) < 0.001
    assert 17_900 <= sizes[-1] <= 18_000, sizes


def test_the_sizer_makes_the_first_and_last_batches_small():
    """The sender said 100 000 rows. Batches come in rounds of one a worker (two), of one
    size; a round's batches hold at most a quarter of the rows left when it starts, so each
    round halves what is left; once a quarter of it is a quarter of a second of rows or less
    (2500 at 0.1 ms a row), it is cut into four equal batches, and the input is done."""
    sizer = source.BatchSizer(workers=2, input_size={"records": 100_001})
    cuts = []
    while (left := 100_000 - sizer.cut_rows) > 0:
        rows = min(sizer.rows, left)
        cuts.append(rows)
        sizer.cut(rows, rows * 90)
        sizer.learn(rows, rows * 0.0001, rows * 90)
    # 200 to start; 1600 and 12 800 after one and two results; a quarter of the 74 000 left
    # is under two seconds of rows (20 000)
    assert cuts[:10] == [200, 200, 12_800, 12_800, 18_500, 18_500, 9250, 9250, 4625, 4625]
    assert cuts[10:] == [2313, 2313, 2313, 2311]  # the 9250 left, in four
    # an input smaller than FIRST_ROWS batches for every worker twice: a quarter each
    assert source.BatchSizer(workers=2, input_size={"records": 301}).rows == 75


def test_the_sizer_shares_out_the_tail_as_it_cuts_before_any_result_comes_back():
    """The source cuts the next batches while the last ones run: a round's take at most a
    quarter of the rows left when it starts (two workers); once a quarter is a quarter of a
    second of rows or less, the rest is cut into four equal batches."""
    sizer = source.BatchSizer(workers=2, input_size={"records": 20_001})
    _feed(sizer, 0.0005, 4)  # 0.5 ms a row: two seconds are 4000 rows
    assert sizer.wanted == 4000
    sizes = []
    while (left := 20_000 - sizer.cut_rows) > 0:
        rows = min(sizer.rows, left)
        sizes.append(rows)
        sizer.cut(rows, rows * 90)
    # 11 600 rows were left: 2900 is a quarter of them, 1450 a quarter of the 5800 then left…
    # and a quarter of the last 1450 is under 500 rows, a quarter of a second
    assert sizes == [2900, 2900, 1450, 1450, 725, 725, 363, 363, 363, 361]


def test_a_short_batch_does_not_set_its_rounds_size():
    """A long record is a batch of one row: at a round's start it leaves the size as asked."""
    sizer = source.BatchSizer(workers=4)
    for _ in range(4):
        sizer.cut(sizer.rows, sizer.rows * 90)
    sizer.cut(1, 2 * 1024 * 1024)
    assert sizer.rows == source.BatchSizer.FIRST_ROWS
    sizer.cut(sizer.rows, sizer.rows * 90)
    assert sizer.rows == source.BatchSizer.FIRST_ROWS


def test_the_rows_left_of_a_size_in_bytes_are_whole_rows():
    """The sender's bytes hold the header too: once every row is cut, none is left."""
    sizer = source.BatchSizer(workers=2, input_size={"bytes": 45 + 1000 * 90})
    while sizer.cut_rows < 1000:
        rows = min(sizer.rows, 1000 - sizer.cut_rows)
        sizer.cut(rows, rows * 90)
        sizer.learn(rows, rows * 0.0001, rows * 90)
    assert sizer.rows_left() == 0


def test_the_sizer_holds_a_batch_to_its_bytes():
    sizer = source.BatchSizer(max_frame_bytes=1024 * 1024)
    sizes = _feed(sizer, 1e-7, 20, row_bytes=1000)  # cheap rows of 1000 bytes
    assert sizes[-1] == 1024 * 1024 // 1000
