"""``dask scheduler`` and ``dask worker`` with burst's settings and its batch code preloaded.

A batch job wants its cores for the classifier: no statistical profiler, slower
housekeeping ticks, and a longer switch interval so the worker's event loop
interrupts the classifier's thread less often. Memory must not grow with the rows:
no log of recent messages (the source's Dask client uses these settings too). The
nanny hands the settings to its worker process; this module is that process's
preload, and the scheduler's. Both import the batch code (and pandas with it) before the
first task: a worker to run it, the scheduler to unpickle it. The scheduler imports it in
the background, so that it serves at once while the workers start.
"""

import importlib
import sys
import threading

import dask

SETTINGS = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    # Dask keeps its last 1000 messages under 1 MB for debugging: batches of rows, here.
    "distributed.admin.low-level-log-length": 0,
}
PRELOAD = ["--preload", __name__]
BATCH_CODE = "classifier.batches"
SWITCH_INTERVAL = 0.05
batch_code_loaded = threading.Event()


def load_batch_code() -> None:
    importlib.import_module(BATCH_CODE)
    batch_code_loaded.set()


def dask_setup(scheduler_or_worker) -> None:
    """Dask calls this in the process it preloads the module into."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    if type(scheduler_or_worker).__name__ == "Worker":
        load_batch_code()
    else:
        threading.Thread(target=load_batch_code, name="batch-code", daemon=True).start()


def run(role: str, args: list[str]) -> int:
    """Run Dask's own command line for ``role`` (scheduler or worker) with ``args``."""
    if role == "scheduler":
        from distributed.cli.dask_scheduler import main
    else:
        from distributed.cli.dask_worker import main
    dask.config.set(SETTINGS)
    return main.main(args=[*PRELOAD, *args], prog_name=f"dask {role}", standalone_mode=False) or 0
