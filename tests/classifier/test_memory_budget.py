"""Each process's memory budget: past it, the process fails naming the budget, never the
machine's OOM killer. A real sender, its budget set low, sends a long record to a listener
on 127.0.0.1 that reads and drops what it gets."""

import socket
import subprocess
import sys
import threading
from contextlib import suppress

import pytest
from app_processes import Processes
from conftest import REPO
from test_pipeline import _env

from classifier import memory

MB = 1024 * 1024


def _drain(listener: socket.socket) -> None:
    with suppress(OSError):
        connection, _ = listener.accept()
        with connection:
            while connection.recv(MB):
                pass


def test_a_sender_over_its_budget_fails_naming_it(tmp_path):
    given = tmp_path / "input.csv"
    with open(given, "wb") as stream:
        stream.write(b"ID,DESCRIPTION\n1,short\n2,")
        stream.write(b"x" * (300 * MB))
        stream.write(b"\n3,short\n")
    listener = socket.create_server(("127.0.0.1", 0))
    drain = threading.Thread(target=_drain, args=(listener,), daemon=True)
    drain.start()
    exit_file = tmp_path / "exit"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "classifier", "--exit-file", str(exit_file), "send"]
            + ["--to", f"127.0.0.1:{listener.getsockname()[1]}", "--file", str(given)]
            + ["--max-frame-bytes", str(512 * MB), "--memory-budget", str(200 * MB)],
            capture_output=True,
            text=True,
            env=_env(tmp_path),
            cwd=REPO,
            timeout=120,
        )
    finally:
        listener.close()
    assert done.returncode == 2, done.stderr
    status, error = exit_file.read_text().splitlines()
    assert status == "2"
    assert error.startswith("send: resident memory reached "), error
    assert error.endswith("over its budget of 200 MiB (--memory-budget)"), error


def test_the_default_budget_is_a_base_and_the_frames_each_process_holds():
    frame = 64 * MB
    assert memory.budget("send", frame) == 512 * MB + 2 * frame
    assert memory.budget("receive", frame) == 512 * MB + 2 * frame
    assert memory.budget("source", frame) == 512 * MB + 6 * frame
    limit = memory.budget("source", frame)
    assert memory.describe("source", limit, frame) == (
        "896 MiB (512 MiB and 6 times job.max_frame_bytes)"
    )


HOG = """  # a classifier that holds 600 MB for a while
import time

import pandas as pd


def hog(frame, *, slowness):
    held = bytearray(600 * 1024 * 1024)
    held[::4096] = b"x" * len(held[::4096])
    time.sleep(4)
    return pd.Series(0.5, index=frame.index)
"""


@pytest.mark.slow
def test_a_batch_over_the_workers_memory_limit_fails_the_run_naming_it(tmp_path):
    """Dask's nanny restarts a worker past 95 % of its memory limit; after Dask's retries the
    source fails the run naming the batch and the limit."""
    (tmp_path / "burst_test_hog.py").write_text(HOG)
    env = _env(tmp_path)
    processes = Processes(tmp_path, env, 120)
    try:
        address = processes.start_cluster([])
        processes.start(
            "worker",
            *("classifier", "worker", address, "--nworkers", "1", "--nthreads", "1"),
            *("--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"),
            *("--death-timeout", "60", "--memory-limit", "400MB"),
            *("--local-directory", str(tmp_path / "worker-space")),
        )
        receiver, source, port = processes.start_receiver_and_source(
            address,
            tmp_path / "out",
            *("--workers", "1", "--classifier", "burst_test_hog:hog", "--batch-rows", "50"),
        )
        sender = processes.start(
            "sender", "classifier", "send", "--to", f"127.0.0.1:{port}", "--rows", "100"
        )
        assert processes.wait("source", source) == 1
        processes.wait("sender", sender)
        processes.wait("receiver", receiver)
    finally:
        processes.stop_all()
    log = processes.log("source")
    assert "the batch from input line 2 took down every worker that ran it" in log, log
    assert "95 % of its memory limit" in log, log
