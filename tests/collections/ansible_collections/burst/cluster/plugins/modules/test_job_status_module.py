"""burst.cluster.job_status: the receiver's progress file and which components died."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ansible_collections.burst.cluster.plugins.modules import job_status
from module_runner import runner


def state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


@pytest.fixture
def run(monkeypatch):
    return runner(monkeypatch, job_status.main)


@pytest.fixture
def processes():
    """Processes the test starts; killed and collected afterwards."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_missing_progress_file_is_empty_progress(run, tmp_path):
    result = run(progress=str(tmp_path / "results" / "progress.json"))
    assert result["failed"] is False, result
    assert result["changed"] is False
    assert result["progress"] == {}
    assert result["dead"] == []


def test_progress_file_content_is_returned(run, tmp_path):
    progress = {
        "state": "running",
        "rows_out": 1200,
        "rows_rejected": 3,
        "rows_in": None,
        "started_at": 1700000000.5,
        "updated_at": 1700000010.25,
        "error": None,
    }
    path = tmp_path / "progress.json"
    path.write_text(json.dumps(progress), encoding="utf-8")
    result = run(progress=str(path))
    assert result["progress"] == progress


def test_dead_lists_only_components_whose_process_is_gone(run, processes, tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    processes.append(live)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    processes.append(zombie)  # exited but not yet collected: a zombie counts as dead
    deadline = time.monotonic() + 10
    while state(zombie.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert state(zombie.pid) == "Z"
    pidfiles = {}
    for name, pid in (("receiver", live.pid), ("sender", ended.pid), ("source", zombie.pid)):
        pidfiles[name] = str(tmp_path / f"{name}.pid")
        Path(pidfiles[name]).write_text(f"{pid}\n")
    pidfiles["worker-0"] = str(tmp_path / "never-written.pid")

    result = run(progress=str(tmp_path / "progress.json"), pidfiles=pidfiles)
    assert result["failed"] is False, result
    assert result["dead"] == ["sender", "source", "worker-0"]


def test_wait_reports_as_soon_as_the_run_ends(run, tmp_path):
    path = tmp_path / "progress.json"
    path.write_text(json.dumps({"state": "running", "rows_out": 5}), encoding="utf-8")
    ends = threading.Timer(0.5, path.write_text, [json.dumps({"state": "done", "rows_out": 9})])
    ends.start()
    started = time.monotonic()
    result = run(progress=str(path), wait=30)
    ends.join()
    assert result["progress"]["state"] == "done"
    assert 0.4 < time.monotonic() - started < 10


def test_wait_reports_the_progress_when_nothing_ends(run, tmp_path):
    path = tmp_path / "progress.json"
    path.write_text(json.dumps({"state": "running", "rows_out": 5}), encoding="utf-8")
    started = time.monotonic()
    result = run(progress=str(path), wait=0.6)
    assert result["progress"]["state"] == "running"
    assert 0.6 <= time.monotonic() - started < 10
