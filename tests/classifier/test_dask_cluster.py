"""python -m classifier scheduler|worker: Dask's command lines with burst's settings."""

import os
import signal
import subprocess
import sys
import time

import cloudpickle
import pytest
from conftest import free_ports
from distributed import Client

from classifier import dask_cluster

pytestmark = pytest.mark.slow

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers can't import tests


@pytest.fixture
def cluster():
    (port,) = free_ports(1)
    common = ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "classifier", "scheduler", "--port", str(port), *common],
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    ]
    started.append(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "classifier",
                "worker",
                f"tcp://127.0.0.1:{port}",
                "--nthreads",
                "1",
                "--no-dashboard",
                *common,
            ],
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    )
    try:
        with Client(f"tcp://127.0.0.1:{port}", timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
            yield client
    finally:
        for process in reversed(started):
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in started:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _state():
    import dask

    return {
        "settings": {key: dask.config.get(key) for key in dask_cluster.SETTINGS},
        "switch_interval": round(sys.getswitchinterval(), 6),
        "batch_code_loaded": dask_cluster.batch_code_loaded.is_set(),
    }


def test_worker_and_scheduler_run_with_burst_settings(cluster):
    want = {
        "settings": dask_cluster.SETTINGS,
        "switch_interval": dask_cluster.SWITCH_INTERVAL,
        "batch_code_loaded": True,
    }
    (worker_state,) = cluster.run(_state).values()
    assert worker_state == want
    # no task has come: the scheduler loads the batch code to unpickle the first one at once
    deadline = time.monotonic() + 60
    while (scheduler_state := cluster.run_on_scheduler(_state)) != want:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert scheduler_state == want


def test_defaults_differ_from_burst_settings():
    import dask

    with dask.config.set({}):
        assert dask.config.get("distributed.worker.profile.enabled") is True
        assert dask.config.get("distributed.admin.tick.interval") != "1s"


def _scheduler_log_of_messages_to_workers(dask_scheduler=None):
    return sum(len(stream.recent_message_log) for stream in dask_scheduler.stream_comms.values())


@pytest.mark.parametrize("burst_settings", [False, True])
def test_no_copy_of_the_batches_is_kept_in_dask_message_logs(cluster, burst_settings):
    """Dask logs its last 1000 messages under 1 MB: a task's batch of rows, for the source's
    client and for the scheduler. Under burst's settings nothing is kept, so memory stays flat."""
    import dask

    batch = os.urandom(200_000)
    settings = dask_cluster.SETTINGS if burst_settings else {}
    with dask.config.set(settings), Client(cluster.scheduler.address, timeout=60) as client:
        futures = [client.submit(len, batch + bytes([n]), pure=False) for n in range(5)]
        assert client.gather(futures) == [len(batch) + 1] * 5
        kept = len(client.scheduler_comm.recent_message_log)
    assert (kept == 0) is burst_settings
    assert cluster.run_on_scheduler(_scheduler_log_of_messages_to_workers) == 0
