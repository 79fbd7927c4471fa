"""Each process's memory budget: going over it is an error that names the budget.

The sender, the source and the receiver hold a bounded number of frames, each at most
``job.max_frame_bytes``: their budget is BASE_BYTES (Python and its libraries) plus that
many frames. A thread reads the process's resident memory and, past the budget, raises
OverBudget in the main thread, whose error reaches the run's summary like any other.
"""

import os
import signal
import threading

BASE_BYTES = 512 * 1024 * 1024
FRAMES = {"send": 2, "source": 6, "receive": 2}  # what each holds at most, in frames
POLL_SECONDS = 0.05
_PAGE = os.sysconf("SC_PAGE_SIZE")


class OverBudget(MemoryError):
    """The process's resident memory passed its budget."""


def budget(command: str, max_frame_bytes: int) -> int:
    """The budget of ``command`` (send, source or receive), in bytes."""
    return BASE_BYTES + FRAMES[command] * max_frame_bytes


def describe(command: str, limit: int, max_frame_bytes: int) -> str:
    """How ``limit`` was set, in words."""
    if limit == budget(command, max_frame_bytes):
        how = f"{BASE_BYTES >> 20} MiB and {FRAMES[command]} times job.max_frame_bytes"
        return f"{limit >> 20} MiB ({how})"
    return f"{limit >> 20} MiB (--memory-budget)"


def resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


def watch(limit: int, described: str) -> threading.Event:
    """Watch this process's memory from a thread until the returned event is set; past
    ``limit``, OverBudget is raised in the main thread (once)."""
    stop, main = threading.Event(), threading.main_thread().ident
    found: list[int] = []

    def over(_signum, _frame):
        raise OverBudget(
            f"resident memory reached {found[0] >> 20} MiB, over its budget of {described}"
        )

    signal.signal(signal.SIGUSR1, over)

    def look() -> None:
        while not stop.wait(POLL_SECONDS):
            if (now := resident()) > limit:
                found.append(now)
                signal.pthread_kill(main, signal.SIGUSR1)
                return

    threading.Thread(target=look, name="memory-budget", daemon=True).start()
    return stop
