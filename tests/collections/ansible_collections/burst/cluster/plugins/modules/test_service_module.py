"""burst.cluster.service: real processes started, found again and stopped by process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ansible_collections.burst.cluster.plugins.modules import service
from conftest import free_ports
from module_runner import runner

# A service with a child: it starts a sleeping child (its pid goes to argv[2]), then
# listens on 127.0.0.1:argv[1] (argv[1] == "0": does not listen) and sleeps.
# argv[3] == "ignore-term": parent and child ignore SIGTERM.
SERVER = r"""
import os, signal, socket, subprocess, sys, time
if sys.argv[3] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open(sys.argv[2], "w") as stream:
    stream.write(str(child.pid))
print("env", os.environ.get("BURST_TEST_VALUE"), os.environ.get("BURST_TEST_NUMBER"), flush=True)
print("cwd", os.getcwd(), flush=True)
if sys.argv[1] != "0":
    server = socket.socket()
    server.bind(("127.0.0.1", int(sys.argv[1])))
    server.listen()
    print("listening", flush=True)
time.sleep(300)
"""


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of pid from /proc, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[2])


def running(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def group(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat and stat[2] == pgid and stat[0] not in ("Z", "X"):
                found.append(int(entry))
    return found


def reap(pid: int) -> None:
    """Collect our own exited child so /proc forgets it."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reap(pid)
        if not running(pid):
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def run(monkeypatch):
    return runner(monkeypatch, service.main)


@pytest.fixture
def started(tmp_path):
    """Pid files of services the test starts; whatever is left of them is killed afterwards."""
    pidfiles: list[Path] = []
    leaders: set[int] = set()
    yield pidfiles, leaders
    for pidfile in pidfiles:
        try:
            leaders.add(int(pidfile.read_text().strip()))
        except (FileNotFoundError, ValueError):
            pass
    for leader in leaders:
        stat = _stat(leader)
        # Only a group this test process started: its leader is our child, or already gone.
        if stat is not None and stat[1] != os.getpid():
            continue
        for member in group(leader):
            try:
                os.kill(member, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_gone(leader)


def server_args(tmp_path: Path, port: int, mode: str = "normal") -> list[str]:
    return [sys.executable, "-c", SERVER, str(port), str(tmp_path / "child.pid"), mode]


def test_start_is_idempotent_and_stop_ends_the_whole_group(run, started, tmp_path):
    pidfiles, leaders = started
    pidfile = tmp_path / "run" / "server.pid"
    pidfiles.append(pidfile)
    port = free_ports(1)[0]
    args = {
        "name": "server",
        "argv": server_args(tmp_path, port),
        "pidfile": str(pidfile),
        "ready_port": port,
        "ready_timeout": 20,
    }

    first = run(**args)
    assert first["failed"] is False, first
    assert first["changed"] is True
    pid = first["pid"]
    leaders.add(pid)
    assert int(pidfile.read_text()) == pid
    log = tmp_path / "run" / "logs" / "server.log"
    assert first["log"] == str(log)
    assert "listening" in log.read_text()
    child = int((tmp_path / "child.pid").read_text())
    assert running(pid) and running(child)
    assert _stat(pid)[2] == pid, "the service leads its own process group"
    assert sorted(group(pid)) == sorted([pid, child])

    again = run(**args)
    assert again["failed"] is False, again
    assert again["changed"] is False
    assert again["pid"] == pid
    assert sorted(group(pid)) == sorted([pid, child]), "a second start started nothing"

    stop = {"name": "server", "pidfile": str(pidfile), "state": "stopped", "stop_timeout": 10}
    stopped = run(**stop)
    assert stopped["failed"] is False, stopped
    assert stopped["changed"] is True
    assert stopped["pid"] == pid
    assert wait_gone(pid), "the service survived stop"
    assert wait_gone(child), "the service's child survived stop"
    assert group(pid) == []
    assert not pidfile.exists()

    second_stop = run(**stop)
    assert second_stop["failed"] is False, second_stop
    assert second_stop["changed"] is False


def test_process_ignoring_sigterm_is_killed_after_stop_timeout(run, started, tmp_path):
    pidfiles, leaders = started
    pidfile = tmp_path / "stubborn.pid"
    pidfiles.append(pidfile)
    port = free_ports(1)[0]
    result = run(
        name="stubborn",
        argv=server_args(tmp_path, port, "ignore-term"),
        pidfile=str(pidfile),
        ready_port=port,
        ready_timeout=20,
    )
    assert result["changed"] is True, result
    pid = result["pid"]
    leaders.add(pid)
    child = int((tmp_path / "child.pid").read_text())

    began = time.monotonic()
    stopped = run(name="stubborn", pidfile=str(pidfile), state="stopped", stop_timeout=0.5)
    took = time.monotonic() - began
    assert stopped["failed"] is False, stopped
    assert stopped["changed"] is True
    assert took >= 0.5, "SIGKILL came before stop_timeout"
    assert wait_gone(pid) and wait_gone(child)
    assert group(pid) == []
    assert not pidfile.exists()


def test_a_frozen_member_takes_its_sigterm_without_waiting_for_stop_timeout(run, started, tmp_path):
    pidfiles, leaders = started
    pidfile = tmp_path / "frozen.pid"
    pidfiles.append(pidfile)
    result = run(name="frozen", argv=server_args(tmp_path, 0), pidfile=str(pidfile))
    assert result["changed"] is True, result
    leaders.add(result["pid"])
    deadline = time.monotonic() + 20
    while not (tmp_path / "child.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int((tmp_path / "child.pid").read_text())
    os.kill(child, signal.SIGSTOP)

    began = time.monotonic()
    stopped = run(name="frozen", pidfile=str(pidfile), state="stopped", stop_timeout=10)
    assert stopped["changed"] is True, stopped
    assert time.monotonic() - began < 5, "the frozen child waited for SIGKILL"
    assert wait_gone(result["pid"]) and wait_gone(child)


def test_command_that_exits_at_once_fails_with_the_end_of_its_log(run, started, tmp_path):
    pidfiles, _ = started
    pidfile = tmp_path / "quitter.pid"
    pidfiles.append(pidfile)
    script = "import sys; print('starting up'); print('fatal: no such dataset xyz'); sys.exit(3)"
    result = run(
        name="quitter",
        argv=[sys.executable, "-c", script],
        pidfile=str(pidfile),
        ready_port=free_ports(1)[0],
        ready_timeout=20,
    )
    assert result["failed"] is True
    assert "quitter exited before listening" in result["msg"]
    assert "fatal: no such dataset xyz" in result["msg"]
    assert result["msg"].rstrip().endswith("fatal: no such dataset xyz")


@pytest.mark.parametrize("stranger", [False, True], ids=["free port", "another program's port"])
def test_ready_timeout_exceeded_fails_not_listening(run, started, tmp_path, stranger):
    """A port another program listens on is not taken for the process listening."""
    pidfiles, leaders = started
    pidfile = tmp_path / "deaf.pid"
    pidfiles.append(pidfile)
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        port = other.getsockname()[1]
        if stranger:
            other.listen()
        else:
            other.close()
        began = time.monotonic()
        result = run(
            name="deaf",
            argv=server_args(tmp_path, 0),
            pidfile=str(pidfile),
            ready_port=port,
            ready_timeout=0.5,
        )
    assert result["failed"] is True
    assert f"deaf is not listening on port {port}" in result["msg"]
    assert 0.5 <= time.monotonic() - began < 10
    leaders.add(result["pid"])


def test_existing_creates_path_means_not_started(run, started, tmp_path):
    pidfiles, _ = started
    pidfile = tmp_path / "once.pid"
    pidfiles.append(pidfile)
    done = tmp_path / "done.marker"
    done.write_text("already done\n")
    marker = tmp_path / "ran.marker"
    result = run(
        name="once",
        argv=[sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"],
        pidfile=str(pidfile),
        creates=str(done),
    )
    assert result["failed"] is False, result
    assert result["changed"] is False
    assert "pid" not in result
    time.sleep(0.3)
    assert not pidfile.exists()
    assert not marker.exists()


def test_check_mode_start_reports_change_and_starts_nothing(run, started, tmp_path):
    pidfiles, _ = started
    pidfile = tmp_path / "dry.pid"
    pidfiles.append(pidfile)
    marker = tmp_path / "ran.marker"
    result = run(
        check_mode=True,
        name="dry",
        argv=[sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"],
        pidfile=str(pidfile),
        ready_port=free_ports(1)[0],
    )
    assert result["failed"] is False, result
    assert result["changed"] is True
    time.sleep(0.3)
    assert not pidfile.exists()
    assert not (tmp_path / "dry.log").exists()
    assert not marker.exists()


def test_check_mode_stop_reports_change_and_leaves_it_running(run, started, tmp_path):
    pidfiles, leaders = started
    pidfile = tmp_path / "keep.pid"
    pidfiles.append(pidfile)
    port = free_ports(1)[0]
    result = run(
        name="keep", argv=server_args(tmp_path, port), pidfile=str(pidfile), ready_port=port
    )
    pid = result["pid"]
    leaders.add(pid)
    stopped = run(check_mode=True, name="keep", pidfile=str(pidfile), state="stopped")
    assert stopped["changed"] is True
    assert running(pid)
    assert pidfile.exists()


def test_env_and_chdir_are_passed_to_the_process(run, started, tmp_path):
    pidfiles, leaders = started
    pidfile = tmp_path / "envy.pid"
    pidfiles.append(pidfile)
    log = tmp_path / "logs" / "envy-output.txt"
    workdir = tmp_path / "work"
    workdir.mkdir()
    port = free_ports(1)[0]
    result = run(
        name="envy",
        argv=server_args(tmp_path, port),
        pidfile=str(pidfile),
        log=str(log),
        env={"BURST_TEST_VALUE": "hello burst", "BURST_TEST_NUMBER": 42},
        chdir=str(workdir),
        ready_port=port,
    )
    assert result["changed"] is True, result
    leaders.add(result["pid"])
    assert result["log"] == str(log)
    text = log.read_text()
    assert "env hello burst 42" in text
    assert f"cwd {workdir}" in text


def test_stale_pidfile_of_a_dead_process_stops_with_no_change(run, tmp_path):
    pidfile = tmp_path / "stale.pid"
    # a pid that certainly ran and ended: a child we start and collect
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    pidfile.write_text(f"{ended.pid}\n")
    result = run(name="stale", pidfile=str(pidfile), state="stopped")
    assert result["failed"] is False, result
    assert result["changed"] is False


def test_start_without_argv_fails_naming_the_service(run, tmp_path):
    result = run(name="nameless", pidfile=str(tmp_path / "n.pid"))
    assert result["failed"] is True
    assert "nameless" in result["msg"] and "argv" in result["msg"]


def test_wait_for_the_port_of_a_process_started_without_waiting(run, started, tmp_path):
    """Start now, wait later: the second call needs no argv and returns once the port listens."""
    pidfiles, leaders = started
    pidfile = tmp_path / "server.pid"
    pidfiles.append(pidfile)
    port = free_ports(1)[0]
    first = run(name="server", argv=server_args(tmp_path, port), pidfile=str(pidfile))
    assert first["failed"] is False, first
    leaders.add(first["pid"])
    waited = run(name="server", pidfile=str(pidfile), ready_port=port, ready_timeout=20)
    assert waited["failed"] is False, waited
    assert waited["changed"] is False
    assert waited["pid"] == first["pid"]
    assert "listening" in (tmp_path / "logs" / "server.log").read_text()


def test_wait_for_a_process_that_is_not_running_says_so(run, tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "server.log").write_text("Address already in use\n")
    result = run(name="server", pidfile=str(tmp_path / "server.pid"), ready_port=free_ports(1)[0])
    assert result["failed"] is True
    assert "server is not running, and argv is required to start it" in result["msg"]
    assert "Address already in use" in result["msg"]


def test_stop_several_processes_together(run, started, tmp_path):
    pidfiles, leaders = started
    groups = []
    for name, mode in (("one", "normal"), ("two", "ignore-term")):
        (tmp_path / name).mkdir()
        pidfile = tmp_path / "run" / f"{name}.pid"
        pidfiles.append(pidfile)
        start = run(name=name, argv=server_args(tmp_path / name, 0, mode), pidfile=str(pidfile))
        assert start["failed"] is False, start
        leaders.add(start["pid"])
        groups.append(start["pid"])
    stale = tmp_path / "run" / "gone.pid"
    stale.write_text("999999999\n")

    stopped = run(
        name="the run", pidfiles=[str(tmp_path / "run" / "*.pid")], state="stopped", stop_timeout=1
    )
    assert stopped["failed"] is False, stopped
    assert stopped["changed"] is True
    assert sorted(stopped["pids"]) == sorted(groups)
    for pid in groups:
        assert wait_gone(pid)
        assert group(pid) == []
    assert list((tmp_path / "run").glob("*.pid")) == []

    again = run(name="the run", pidfiles=[str(tmp_path / "run" / "*.pid")], state="stopped")
    assert again["changed"] is False
    assert again["pids"] == []


def test_wait_in_check_mode_after_a_start_in_check_mode(run, tmp_path):
    (port,) = free_ports(1)
    pidfile = str(tmp_path / "server.pid")
    result = run(check_mode=True, name="server", pidfile=pidfile, ready_port=port)
    assert result["failed"] is False, result
    assert result["changed"] is False
