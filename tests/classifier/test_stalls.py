"""A frozen worker (SIGSTOP, not killed), with real processes: burst's Dask scheduler, two
workers with their nannies, receiver, source and sender on 127.0.0.1.

The real worker process (the nanny's child, as Dask reports its pid) is frozen once rows
flow; every process a test starts is thawed and stopped in its teardown.
"""

import json
import os
import random
import signal
import time
import uuid
from contextlib import suppress

import pandas as pd
import pytest
from app_processes import Processes
from conftest import REPO, processes_with_env
from distributed import Client
from test_pipeline import _cli

from classifier import stalls

pytestmark = pytest.mark.slow

STALL = 3  # job.stall_timeout of these runs, in seconds
WAIT = 90
WORKERS = ["stall-0", "stall-1"]


@pytest.fixture
def run(tmp_path):
    """Start a cluster and a job with ``run(rows, slowness, batch_rows)``; stops all after."""
    marker = uuid.uuid4().hex
    env = dict(os.environ, PYTHONUNBUFFERED="1", BURST_TEST_STALLS=marker)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    processes = Processes(tmp_path, env, WAIT)
    frozen, clients = [], []

    def start(rows: int, slowness: int, batch_rows: int | str, stall: float = STALL) -> dict:
        address = processes.start_cluster(WORKERS)
        client = Client(address, timeout=WAIT)
        clients.append(client)
        client.wait_for_workers(len(WORKERS), timeout=WAIT)
        names = {a: w["name"] for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
        receiver, source, port = processes.start_receiver_and_source(
            address,
            tmp_path / "out",
            *("--slowness", str(slowness), "--batch-rows", str(batch_rows)),
            *("--stall-timeout", str(stall)),
        )
        sender = processes.start(
            "sender", "classifier", "send", "--to", f"127.0.0.1:{port}", "--rows", str(rows)
        )
        return {
            "workers": {names[a]: (a, pid) for a, pid in client.run(os.getpid).items()},
            "processes": processes,
            "receiver": receiver,
            "source": source,
            "sender": sender,
            "out": tmp_path / "out",
            "frozen": frozen,
        }

    try:
        yield start
    finally:
        for pid in frozen:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        for client in clients:
            client.close()
        processes.stop_all()
    assert processes_with_env(f"BURST_TEST_STALLS={marker}") == []


def _freeze_when_rows_flow(job, names) -> float:
    """SIGSTOP the named workers once the receiver has written rows; the time it happened."""
    progress, deadline = job["out"] / "progress.json", time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with suppress(OSError, ValueError):
            if json.loads(progress.read_text())["rows_out"] > 0:
                for name in names:
                    pid = job["workers"][name][1]
                    os.kill(pid, signal.SIGSTOP)
                    job["frozen"].append(pid)
                return time.monotonic()
        time.sleep(0.05)
    pytest.fail(f"no rows flowed; the source's log:\n{job['processes'].log('source')}")


def _wait_for_line(job, name: str, *texts: str, wait: float = WAIT) -> float:
    """When one of ``texts`` appeared in ``name``'s log."""
    deadline = time.monotonic() + wait
    while not any(text in job["processes"].log(name) for text in texts):
        if time.monotonic() > deadline:
            pytest.fail(f"{texts!r} never came; the {name}'s log:\n{job['processes'].log(name)}")
        time.sleep(0.05)
    return time.monotonic()


def _same_as_one_process(job, tmp_path, rows: int, slowness: int) -> None:
    given, reference = tmp_path / "input.csv", tmp_path / "reference.csv"
    env = {"env": job["processes"].env}
    with open(given, "wb") as stream:
        _cli(env, "generate", "--rows", str(rows), stdout=stream)
    _cli(env, "classify", str(given), str(reference), "--slowness", str(slowness))
    results = job["out"] / "results.csv"
    assert pd.read_csv(results, dtype=str)["ID"].is_unique
    assert results.read_bytes() == reference.read_bytes()


def test_a_frozen_workers_batches_finish_elsewhere_each_row_once(run, tmp_path):
    rows, slowness = 3000, 1000
    job = run(rows, slowness, 50)
    frozen_at = _freeze_when_rows_flow(job, ["stall-0"])
    address = job["workers"]["stall-0"][0]
    stalled = f"{address} (stall-0)"
    removed_at = _wait_for_line(job, "source", f"worker {stalled} stalled")
    procs = job["processes"]
    for name in ("sender", "source", "receiver"):
        assert procs.wait(name, job[name]) == 0, procs.log(name)
    print(f"removed {removed_at - frozen_at:.1f} s after the freeze")
    assert removed_at - frozen_at < STALL + 10

    _same_as_one_process(job, tmp_path, rows, slowness)
    manifest = json.loads((job["out"] / "manifest.json").read_text())
    assert (manifest["rows_in"], manifest["rows_out"], manifest["complete"]) == (rows, rows, True)
    assert (manifest["stalled_workers"], manifest["lost_workers"]) == ([stalled], [])


def test_with_the_defaults_a_frozen_worker_is_named_and_its_batches_finish_elsewhere(run, tmp_path):
    """The default job.stall_timeout and auto batches: the other worker first fills the
    source's reorder window. Dask may drop the frozen worker first (its connection gives up
    once data to it goes unread); the source then names it as lost."""
    rows, slowness = 50_000, 1000
    job = run(rows, slowness, "auto", stalls.TIMEOUT)
    frozen_at = _freeze_when_rows_flow(job, ["stall-0"])
    stalled = f"{job['workers']['stall-0'][0]} (stall-0)"
    named = (f"worker {stalled} stalled", f"worker {stalled} left the cluster mid-run")
    named_at = _wait_for_line(job, "source", *named, wait=stalls.TIMEOUT + WAIT)
    procs = job["processes"]
    for name in ("sender", "source", "receiver"):
        assert procs.wait(name, job[name]) == 0, procs.log(name)
    print(f"named {named_at - frozen_at:.1f} s after the freeze")
    _same_as_one_process(job, tmp_path, rows, slowness)
    manifest = json.loads((job["out"] / "manifest.json").read_text())
    assert (manifest["rows_out"], manifest["complete"]) == (rows, True)
    assert manifest["stalled_workers"] + manifest["lost_workers"] == [stalled]


def test_with_every_worker_frozen_the_run_fails_naming_the_stall(run):
    job = run(3000, 1000, 50)
    frozen_at = _freeze_when_rows_flow(job, WORKERS)
    procs = job["processes"]
    assert procs.wait("receiver", job["receiver"]) == 1, procs.log("receiver")
    failed_at = time.monotonic()
    assert procs.wait("source", job["source"]) == 1, procs.log("source")
    procs.wait("sender", job["sender"])  # it may or may not have sent every row; it must end
    print(f"failed {failed_at - frozen_at:.1f} s after the freeze")
    assert failed_at - frozen_at < STALL + 10

    error = json.loads((job["out"] / "progress.json").read_text())["error"]
    assert error.startswith("source: no batch finished in "), error
    assert error.endswith("were removed, and no worker is left"), error
    for name in WORKERS:
        assert f"{job['workers'][name][0]} ({name})" in error
    manifest = json.loads((job["out"] / "manifest.json").read_text())
    assert manifest["complete"] is False and manifest["error"] == error
    assert sorted(manifest["stalled_workers"]) == sorted(
        f"{address} ({name})" for name, (address, _) in job["workers"].items()
    )


def test_batches_slower_than_the_stall_timeout_are_no_stall(run):
    rows = 32
    job = run(rows, 2_500_000, 16)  # one batch on each worker: about 11 s of CPU each here
    procs = job["processes"]
    for name in ("sender", "source", "receiver"):
        assert procs.wait(name, job[name]) == 0, procs.log(name)
    manifest = json.loads((job["out"] / "manifest.json").read_text())
    assert manifest["seconds"] > 2 * STALL, "a batch finished within the stall timeout"
    assert manifest["stalled_workers"] == []
    assert "stalled" not in procs.log("source")
    got = pd.read_csv(job["out"] / "results.csv", dtype=str, keep_default_na=False)
    assert list(got["ID"]) == [str(n) for n in range(1, rows + 1)]
    for row in got.itertuples(index=False, name=None):
        assert float(row[-1]) == random.Random(repr(tuple(row[:-1]))).random()
