"""Batches of SCATTER_BYTES or more go straight to a worker, not through the scheduler: a
worker killed while it holds some loses them, and the source sends each again, once.

Real processes on 127.0.0.1: burst's Dask scheduler, two workers with their nannies (a nanny
starts its worker again), receiver, source and sender; all are stopped in the teardown.
"""

import json
import os
import signal
import time
import uuid
from contextlib import suppress

import pytest
from app_processes import Processes
from conftest import REPO, processes_with_env
from distributed import Client
from test_pipeline import _cli

pytestmark = pytest.mark.slow
WAIT = 120
ROWS = 60_000
BATCH_ROWS = 12_000  # about 90 bytes a row: each batch over SCATTER_BYTES
SLOWNESS = 40
STALL = 3  # job.stall_timeout, in seconds


@pytest.mark.parametrize("stop", ["killed", "frozen", "frozen-first"])
def test_a_lost_workers_scattered_batches_are_sent_again_each_row_once(stop, tmp_path):
    """A worker killed (its nanny starts another), or frozen (SIGSTOP, so the source's stall
    watch removes it from the cluster) while it holds scattered batches; or frozen before
    the first batch, so batches sent to it are not taken and go to the other worker."""
    marker = uuid.uuid4().hex
    env = dict(os.environ, PYTHONUNBUFFERED="1", BURST_TEST_SCATTER=marker)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    processes = Processes(tmp_path, env, WAIT)
    pids = []
    try:
        address = processes.start_cluster(["scatter-0", "scatter-1"])
        with Client(address, timeout=WAIT) as client:
            client.wait_for_workers(2, timeout=WAIT)
            pids += client.run(os.getpid).values()
        out = tmp_path / "out"
        receiver, job, port = processes.start_receiver_and_source(
            address,
            out,
            *("--slowness", str(SLOWNESS), "--batch-rows", str(BATCH_ROWS)),
            *("--stall-timeout", str(STALL)),
        )
        if stop == "frozen-first":
            os.kill(pids[0], signal.SIGSTOP)
        sender = processes.start(
            "sender", "classifier", "send", "--to", f"127.0.0.1:{port}", "--rows", str(ROWS)
        )
        deadline = time.monotonic() + WAIT
        while not _rows_out(out):
            assert time.monotonic() < deadline, processes.log("source")
            time.sleep(0.05)
        if stop != "frozen-first":
            os.kill(pids[0], signal.SIGKILL if stop == "killed" else signal.SIGSTOP)
        codes = [processes.wait(name, p) for name, p in (("sender", sender), ("source", job))]
        codes.append(processes.wait("receiver", receiver))
    finally:
        if stop.startswith("frozen") and pids:
            with suppress(ProcessLookupError):
                os.kill(pids[0], signal.SIGCONT)
        processes.stop_all()
    log = (tmp_path / "source.log").read_text()
    assert codes == [0, 0, 0], log
    if stop == "frozen-first":
        assert "a worker did not take the batch from input line" in log, log
    else:
        assert "left the cluster; sending it again" in log, log
    given, expected = tmp_path / "input.csv", tmp_path / "expected.csv"
    with open(given, "wb") as stream:
        _cli({"env": env}, "generate", "--rows", str(ROWS), stdout=stream)
    _cli({"env": env}, "classify", str(given), str(expected), "--slowness", str(SLOWNESS))
    assert (out / "results.csv").read_bytes() == expected.read_bytes()
    assert processes_with_env(f"BURST_TEST_SCATTER={marker}") == []


def _rows_out(out) -> int:
    with suppress(OSError, ValueError):
        return json.loads((out / "progress.json").read_text())["rows_out"]
    return 0
