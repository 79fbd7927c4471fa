"""Stop a run's process when the controller that started the run is gone, or it ran too long.

Every process of a run (scheduler, workers, source, receiver, sender) is started detached, in a
session and process group of its own, so Ctrl-C on ``ansible-playbook`` or its death does not
reach it. A process started with ``--controller PID@CREATE_TIME`` and/or ``--max-lifetime S``
runs a watchdog thread that, once the controller is gone or the lifetime has passed, sends
SIGTERM to the process's own group (the process and its children, e.g. the Dask nanny's
worker, stop through their usual SIGTERM handling), then SIGKILL if it still runs ``grace``
seconds later.

The controller is named by pid *and* creation time, so a pid the kernel has given to another
process since does not count as the controller.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time

import psutil

# psutil's creation time is the process's start in ticks since boot plus the boot time of
# /proc/stat, a whole number of seconds that adjustments of the wall clock can move by one:
# two readings of one process may differ by a second. A pid reused by another process starts
# after the controller ended, which is much later than this.
CLOCK_SLACK = 1.5


def controller_id(pid: int) -> str:
    """``PID@CREATE_TIME`` of the live process ``pid`` (psutil's creation time, 0.01 s)."""
    return f"{pid}@{psutil.Process(pid).create_time():.2f}"


def parse_controller(text: str) -> tuple[int, float]:
    """(pid, creation time) from ``PID@CREATE_TIME`` as written by :func:`controller_id`."""
    pid, at, created = text.strip().partition("@")
    try:
        if not at or not pid.isdigit() or int(pid) <= 0 or not math.isfinite(float(created)):
            raise ValueError
        return int(pid), float(created)
    except ValueError:
        raise ValueError(
            f"controller {text!r}: expected PID@CREATE_TIME, e.g. 1234@1763719500.25"
            " (a process id and its creation time in seconds since the epoch)"
        ) from None


def same(a: tuple[int, float], b: tuple[int, float]) -> bool:
    """Whether two (pid, creation time) name the same process."""
    return a[0] == b[0] and abs(a[1] - b[1]) <= CLOCK_SLACK


def _process(pid: int, create_time: float) -> psutil.Process | None:
    """The process ``pid`` if it runs and was created at ``create_time``, else None."""
    try:
        process = psutil.Process(pid)
        if not same((pid, process.create_time()), (pid, create_time)):
            return None
    except psutil.Error:
        return None
    return process if _running(process) else None


def _running(process: psutil.Process) -> bool:
    """True while ``process`` runs: the same process (psutil compares its start since boot,
    which the wall clock does not move) and not a zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def running(pid: int, create_time: float) -> bool:
    """True while the process ``pid`` created at ``create_time`` runs (a zombie is gone)."""
    return _process(pid, create_time) is not None


def _stop(reason: str, log: logging.Logger, grace: float) -> None:
    """SIGTERM this process's group, and SIGKILL it if this process outlives ``grace``."""
    log.error("%s; stopping this run's processes", reason)
    # The group is ours when we lead it (as burst.cluster.service starts us); otherwise it is
    # someone else's (a shell's, a test runner's), and only this process is signalled.
    group, pid = os.getpgrp(), os.getpid()
    kill, target = (os.killpg, group) if group == pid else (os.kill, pid)
    kill(target, signal.SIGTERM)
    time.sleep(grace)  # a daemon thread ends with its process: still here, still running
    log.error("still running %g s after SIGTERM; sending SIGKILL", grace)
    kill(target, signal.SIGKILL)


def _watch(
    controller: tuple[int, psutil.Process | None] | None,
    deadline: float | None,
    max_lifetime: float | None,
    log: logging.Logger,
    poll: float,
    grace: float,
) -> None:
    while True:
        if controller is not None:
            pid, process = controller
            if process is None or not _running(process):
                return _stop(f"the controller (pid {pid}) is gone", log, grace)
        if deadline is not None and time.monotonic() >= deadline:
            return _stop(f"maximum lifetime of {max_lifetime:g} s passed", log, grace)
        time.sleep(poll)


def start(
    controller: tuple[int, float] | None,
    max_lifetime: float | None,
    log: logging.Logger,
    poll: float = 0.5,
    grace: float = 5,
) -> threading.Thread | None:
    """Watch, in a daemon thread, that ``controller`` (pid, creation time) still runs and that
    ``max_lifetime`` seconds from now have not passed; when either fails, log one ERROR line and
    stop this process's group (SIGTERM, then SIGKILL after ``grace`` s). Checks every ``poll``
    seconds. None, and no thread, when there is nothing to watch."""
    if controller is None and max_lifetime is None:
        return None
    deadline = None if max_lifetime is None else time.monotonic() + max_lifetime
    # Found once by pid and creation time, then followed by psutil's identity of the process.
    watched = None if controller is None else (controller[0], _process(*controller))
    thread = threading.Thread(
        target=_watch,
        args=(watched, deadline, max_lifetime, log, poll, grace),
        name="burst-watchdog",
        daemon=True,
    )
    thread.start()
    return thread
