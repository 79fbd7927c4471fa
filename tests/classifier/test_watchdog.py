"""classifier.watchdog with real processes: a "controller", and a watched process in a session
of its own with a child in its group, as burst.cluster.service starts a run's processes."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from classifier import watchdog

REPO = Path(__file__).resolve().parents[2]

# The watched process: starts a child in its group, then the watchdog, says so, and sleeps.
WATCHED = """
import json, logging, signal, subprocess, sys, time
from classifier import watchdog

args = json.loads(sys.argv[1])
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
child = subprocess.Popen(["sleep", "60"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
if args["ignore_term"]:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
controller = watchdog.parse_controller(args["controller"]) if args["controller"] else None
watchdog.start(controller, args["max_lifetime"], logging.getLogger("burst"), **args["timing"])
print(child.pid, flush=True)
time.sleep(60)
"""

# A group leader that only starts WATCHED in its group (so WATCHED does not lead it) and waits.
LEADER = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
time.sleep(60)
"""


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def wait_until(condition, timeout: float) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout, f"not within {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - began


class Started:
    """Every process a test starts, stopped by its own pid (or its own group) at the end."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.popens: list[subprocess.Popen] = []
        self.groups: list[subprocess.Popen] = []  # group leaders, started in a new session
        self.others: list[psutil.Process] = []  # started by those, followed by identity

    def controller(self) -> subprocess.Popen:
        process = subprocess.Popen(["sleep", "60"])
        self.popens.append(process)
        return process

    def watched(
        self,
        controller: str | None = None,
        max_lifetime: float | None = None,
        ignore_term: bool = False,
        grace: float = 5,
        ready: bool = True,
    ) -> tuple[subprocess.Popen, Path]:
        """WATCHED in a new session; returns it and its log, once its watchdog runs if
        ``ready``."""
        args = {
            "controller": controller,
            "max_lifetime": max_lifetime,
            "ignore_term": ignore_term,
            "timing": {"poll": 0.1, "grace": grace},
        }
        log = self.tmp_path / f"watched-{len(self.groups)}.log"
        with open(log, "wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-c", WATCHED, json.dumps(args)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
                text=True,
            )
        self.groups.append(process)
        if not ready:
            return process, log
        child = process.stdout.readline()
        assert child.strip().isdigit(), log.read_text()
        self.others.append(psutil.Process(int(child)))
        assert len(group_members(process.pid)) == 2
        return process, log

    def stop(self) -> None:
        for process in self.groups:
            if process.returncode is None:  # not reaped: its pid is still its group's id
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        for process in self.others:
            with contextlib.suppress(psutil.Error):
                process.kill()  # psutil checks it is still the same process
        for process in self.popens + self.groups:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stdout:
                process.stdout.close()


@pytest.fixture
def started(tmp_path):
    processes = Started(tmp_path)
    try:
        yield processes
    finally:
        processes.stop()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_dead_controller_stops_the_whole_group(started, sig):
    controller = started.controller()
    watched, log = started.watched(watchdog.controller_id(controller.pid))
    time.sleep(0.3)
    assert len(group_members(watched.pid)) == 2, "stopped while the controller ran"
    controller.send_signal(sig)
    if sig == signal.SIGTERM:
        controller.wait()  # reaped: gone from /proc
    # after SIGKILL it stays a zombie (this test does not reap it), which is gone too
    took = wait_until(lambda: not group_members(watched.pid), timeout=3)
    assert took < 3
    errors = [line for line in log.read_text().splitlines() if line.startswith("ERROR")]
    assert errors == [
        f"ERROR the controller (pid {controller.pid}) is gone; stopping this run's processes"
    ]
    assert watched.wait(1) == -signal.SIGTERM


def test_maximum_lifetime_stops_the_group(started):
    began = time.monotonic()
    watched, log = started.watched(max_lifetime=1)
    wait_until(lambda: not group_members(watched.pid), timeout=4)
    assert time.monotonic() - began >= 1
    assert "ERROR maximum lifetime of 1 s passed; stopping this run's processes" in (
        log.read_text()
    )


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(started):
    watched, log = started.watched(max_lifetime=0.2, ignore_term=True, grace=1.5)
    wait_until(lambda: "maximum lifetime" in log.read_text(), timeout=3)
    time.sleep(0.5)  # SIGTERM went to the group: the child went, the process did not
    assert group_members(watched.pid) == [watched.pid]
    wait_until(lambda: not group_members(watched.pid), timeout=3)
    assert watched.wait(1) == -signal.SIGKILL
    assert "ERROR still running 1.5 s after SIGTERM; sending SIGKILL" in log.read_text()


def test_a_live_controller_keeps_the_run_going(started):
    controller = started.controller()
    watched, log = started.watched(watchdog.controller_id(controller.pid))
    time.sleep(1.5)  # 15 polls
    assert sorted(group_members(watched.pid)) == sorted([watched.pid, started.others[-1].pid])
    assert "ERROR" not in log.read_text()


def test_a_controller_gone_before_the_start_stops_at_once(started):
    controller = started.controller()
    named = watchdog.controller_id(controller.pid)
    controller.kill()
    controller.wait()
    watched, log = started.watched(named, ready=False)
    wait_until(lambda: not group_members(watched.pid), timeout=3)
    assert f"the controller (pid {controller.pid}) is gone" in log.read_text()


def test_a_process_that_does_not_lead_its_group_stops_only_itself(started, tmp_path):
    controller = started.controller()
    args = {
        "controller": watchdog.controller_id(controller.pid),
        "max_lifetime": None,
        "ignore_term": False,
        "timing": {"poll": 0.1, "grace": 5},
    }
    leader = subprocess.Popen(
        [sys.executable, "-c", LEADER, WATCHED, json.dumps(args)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started.groups.append(leader)
    wait_until(lambda: len(group_members(leader.pid)) == 3, timeout=10)
    members = set(group_members(leader.pid))
    (watched,) = [p.pid for p in psutil.Process(leader.pid).children()]
    (child,) = members - {leader.pid, watched}
    started.others.append(psutil.Process(child))
    controller.kill()
    wait_until(lambda: watched not in group_members(leader.pid), timeout=3)
    time.sleep(0.3)
    assert set(group_members(leader.pid)) == {leader.pid, child}


def test_nothing_to_watch_starts_no_thread():
    assert watchdog.start(None, None, logging.getLogger("burst")) is None


def test_controller_id_names_a_process_by_pid_and_creation_time(started):
    controller = started.controller()
    text = watchdog.controller_id(controller.pid)
    pid, created = watchdog.parse_controller(text)
    assert pid == controller.pid
    assert abs(created - psutil.Process(controller.pid).create_time()) < 0.01
    assert watchdog.running(pid, created)
    assert not watchdog.running(pid, created - 60), "another process with a reused pid"
    controller.kill()
    wait_until(lambda: psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, timeout=3)
    assert not watchdog.running(pid, created), "a zombie"
    controller.wait()
    assert not watchdog.running(pid, created)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1234",
        "1234@",
        "@1763719500.25",
        "abc@1.5",
        "12@soon",
        "12@nan",
        "12@inf",
        "-3@1.5",
        "0@1.5",
    ],
)
def test_parse_controller_rejects_what_is_not_pid_at_time(text):
    with pytest.raises(ValueError, match="expected PID@CREATE_TIME"):
        watchdog.parse_controller(text)


def test_parse_controller_reads_pid_and_time():
    assert watchdog.parse_controller("1234@1763719500.25") == (1234, 1763719500.25)
