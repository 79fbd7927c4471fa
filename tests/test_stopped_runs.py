"""A test run stopped by a signal stops what its fixtures started."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO

STARTS_A_SERVER = """
import subprocess, sys, time
import pytest

@pytest.fixture(scope="module")
def server():
    started = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    print(f"started {started.pid}", flush=True)
    yield started
    started.kill()
    started.wait()

def test_long(server):
    print("testing", flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signalled_test_run_tears_down_its_fixtures(tmp_path, signum):
    _stopped_by(signum, tmp_path)


def test_a_test_run_under_nohup_outlives_its_terminal(tmp_path):
    """SIGHUP ignored by ``nohup`` stays ignored; SIGTERM still tears the fixtures down."""
    _stopped_by(signal.SIGTERM, tmp_path, ["nohup"], ignored=signal.SIGHUP)


def _stopped_by(signum, tmp_path, wrapper=(), ignored=None) -> None:
    """Start a test run whose fixture starts a server, send it ``ignored`` (it must go on
    running) and then ``signum``: the run must stop, its server with it."""
    (tmp_path / "test_long.py").write_text(STARTS_A_SERVER)
    pytest_args = ["-m", "pytest", "-s", "-q", "-p", "conftest", "-p", "no:cacheprovider"]
    server = None
    with subprocess.Popen(
        [*wrapper, sys.executable, *pytest_args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO / "tests")},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as run:
        try:
            line = ""
            while not line.startswith("testing"):  # the fixture's setup is done
                line = run.stdout.readline()
                assert line, "the run ended before its test started"
                if line.startswith("started "):
                    server = int(line.split()[1])
            if ignored is not None:
                run.send_signal(ignored)
                time.sleep(1)
                assert run.poll() is None, f"{ignored.name} stopped a run that ignores it"
            run.send_signal(signum)
            output = run.communicate(timeout=60)[0]
            assert f"stopped by {signum.name}" in output, output
            deadline = time.monotonic() + 10
            while _running(server):
                assert time.monotonic() < deadline, f"the server {server} outlived the run"
                time.sleep(0.05)
        finally:
            run.kill()
            if server is not None and _running(server):
                os.kill(server, signal.SIGKILL)


def _running(pid: int) -> bool:
    """The fixture's server still runs (not a zombie, not another process with its pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline, open(f"/proc/{pid}/stat") as stat:
            return b"time.sleep(600)" in cmdline.read() and stat.read().split(")")[-1][1] != "Z"
    except OSError:
        return False
