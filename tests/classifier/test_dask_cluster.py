"""python -m classifier scheduler|worker: Dask's command lines with burst's settings."""

import os
import signal
import socket
import subprocess
import sys
import time

import cloudpickle
import pytest
from distributed import Client

from classifier import dask_cluster

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers can't import tests


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def cluster():
    port = _free_port()
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
        "batch_code_loaded": "classifier.batches" in sys.modules,
    }


def test_worker_and_scheduler_run_with_burst_settings(cluster):
    want = {
        "settings": dask_cluster.SETTINGS,
        "switch_interval": dask_cluster.SWITCH_INTERVAL,
        "batch_code_loaded": True,
    }
    (worker_state,) = cluster.run(_state).values()
    assert worker_state == want
    assert cluster.run_on_scheduler(_state) == want


def test_defaults_differ_from_burst_settings():
    import dask

    with dask.config.set({}):
        assert dask.config.get("distributed.worker.profile.enabled") is True
        assert dask.config.get("distributed.admin.tick.interval") != "1s"
