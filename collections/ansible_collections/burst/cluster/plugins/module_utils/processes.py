"""Processes started by burst: pid files, liveness, and stopping a whole process group."""

from __future__ import annotations

import os
import signal
import time


def read_pid(pidfile: str) -> int | None:
    try:
        with open(pidfile, encoding="ascii") as stream:
            return int(stream.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of ``pid``, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stream:
            fields = stream.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return fields[0], int(fields[2])


def alive(pid: int | None) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    stat = _stat(pid) if pid else None
    return stat is not None and stat[0] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat and stat[1] == pgid and stat[0] not in ("Z", "X"):
                members.append(int(entry))
    return members


def stop_groups(pgids: list[int], grace: float) -> list[int]:
    """SIGTERM every group at once, SIGKILL what is left after ``grace`` seconds; the groups
    that had members. A stopped (frozen) member is continued, so it takes its SIGTERM."""
    running = [pgid for pgid in pgids if group_members(pgid)]
    left = running
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pgid in left:
            try:
                os.killpg(pgid, sig)
                os.killpg(pgid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while True:
            left = [pgid for pgid in left if group_members(pgid)]
            if not left or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if not left:
            break
    return running


def _listeners(port: int) -> set[str]:
    """Inodes of the TCP sockets of this network namespace that listen on ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as stream:
                next(stream)
                for line in stream:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fields[9])
        except FileNotFoundError:
            continue
    return inodes


def _sockets(pid: int) -> set[str]:
    """Inodes of the sockets ``pid`` holds; none when this user may not look (another user's)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return set()
    inodes = set()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listening(port: int, pgid: int | None = None) -> bool:
    """True if a TCP socket listens on ``port``; with ``pgid``, one that a process of that group
    holds, so that another program on the port is not taken for ours.

    Read from /proc rather than by connecting, so the listener never sees a probe.
    """
    inodes = _listeners(port)
    if pgid is None or not inodes:
        return bool(inodes)
    return any(_sockets(pid) & inodes for pid in group_members(pgid))


def holders(port: int) -> list[tuple[int, str]]:
    """(pid, name) of the processes listening on TCP ``port``, as far as this user can see."""
    inodes = _listeners(port)
    found = []
    for entry in os.listdir("/proc") if inodes else []:
        if entry.isdigit() and _sockets(int(entry)) & inodes:
            try:
                with open(f"/proc/{entry}/comm", encoding="utf-8", errors="replace") as stream:
                    found.append((int(entry), stream.read().strip()))
            except OSError:
                continue
    return found
