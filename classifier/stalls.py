"""Stalled workers: one that holds a batch and has gone silent is removed from the cluster.

A worker has stalled when no batch has finished for ``timeout`` seconds, it holds one of
the source's batches (running it, or keeping its result), and the scheduler has had no
heartbeat from it (sent every 0.5 s, also while it classifies) for as long: a frozen
process, a paused machine. A slow batch keeps its worker's heartbeat going, so it is never
taken for a stall. The scheduler then hands the worker's batches to the others, and the
source forwards each once, as for a worker that dies.
"""

import logging
import threading
import time
from contextlib import suppress

log = logging.getLogger("burst.source")
TIMEOUT = 30  # job.stall_timeout's default in schema/cluster.schema.json
REMOVED_AS_STALLED = "burst-stalled"  # the stimulus of Dask's removal of a stalled worker


def worker_label(address: str, name) -> str:
    """A worker as the log and the run's files name it: its address, and its name if known."""
    return address if name is None else f"{address} ({name})"


async def remove_silent(dask_scheduler, keys, silent_for: float) -> dict:
    """On the scheduler: remove every worker that holds one of ``keys`` and has sent no
    heartbeat for ``silent_for`` seconds; the workers removed, how many are left, and how
    long until another holder could have been silent as long."""
    now = time.time()
    holders = {}
    for key in keys:
        task = dask_scheduler.tasks.get(key)
        if task is not None:
            for worker in [task.processing_on, *(task.who_has or ())]:
                if worker is not None:
                    holders[worker.address] = worker
    removed, wait = [], silent_for
    for address, worker in holders.items():
        silent = now - worker.last_seen
        if silent < silent_for:
            wait = min(wait, silent_for - silent)
        elif address in dask_scheduler.workers:
            await dask_scheduler.remove_worker(address, stimulus_id=f"{REMOVED_AS_STALLED}-{now}")
            removed.append({"worker": worker_label(address, worker.name), "silent": silent})
    return {"removed": removed, "workers": len(dask_scheduler.workers), "wait": wait}


class StallWatch:
    """Looks for stalled workers from a thread of its own, since the source may be waiting
    on a result that a frozen worker keeps. With no worker left it cancels the batches in
    flight, so the source's wait ends, and ``failure`` says why.

    It also names, in ``lost``, every worker the scheduler removes for another reason while
    the run lasts: killed, or dropped by Dask itself (whose connection to a frozen worker
    gives up after ``distributed.comm.timeouts.tcp``, 30 s, once data to it goes unread).
    Dask runs their batches on the others. The scheduler tells the client of each removal
    as it happens (its "all" topic of events)."""

    def __init__(self, client, timeout: float):
        self.client = client
        self.timeout = timeout
        self.removed: list[str] = []
        self.lost: list[str] = []
        self._names: dict[str, str] = {}  # the workers' names, by address
        self._unnamed = threading.Event()  # a worker joined whose name is not known yet
        self.failure: str | None = None
        self._futures: dict = {}  # the batches in flight, by key
        self._lock = threading.Lock()
        self._finished_at = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stall-watch", daemon=True)

    def __enter__(self):
        self.client.subscribe_topic("all", self._cluster_event)
        self._thread.start()
        return self

    def __exit__(self, *_exc):
        self._stop.set()
        self._thread.join()
        with suppress(Exception):  # the scheduler may be gone
            self.client.unsubscribe_topic("all")

    def know_workers(self) -> None:
        """Learn the names of the cluster's workers, to name one that leaves."""
        try:
            workers = self.client.scheduler_info(n_workers=-1)["workers"]
        except Exception as error:  # the scheduler gone fails the run elsewhere
            log.warning("could not learn the workers' names: %s", error)
            return
        with self._lock:
            self._names.update((address, str(w["name"])) for address, w in workers.items())

    def _cluster_event(self, event) -> None:
        """On the client's event loop: a worker joined, or left the cluster."""
        _, message = event
        action = message.get("action") if isinstance(message, dict) else None
        if action == "add-worker":
            self._unnamed.set()
        if action != "remove-worker":
            return
        if str(message.get("stimulus_id", "")).startswith(REMOVED_AS_STALLED):
            return
        address = message.get("worker", "")
        with self._lock:
            worker = worker_label(address, self._names.get(address))
            self.lost.append(worker)
        log.warning("worker %s left the cluster mid-run; its batches run on the others", worker)

    def track(self, future) -> None:
        with self._lock:
            if not self._futures:
                self._finished_at = time.monotonic()
            self._futures[future.key] = future
        future.add_done_callback(self._finished)

    def forget(self, future) -> None:
        with self._lock:
            self._futures.pop(future.key, None)

    def _finished(self, _future) -> None:
        self._finished_at = time.monotonic()

    def _watch(self) -> None:
        next_look = 0.0
        while not self._stop.wait(min(1.0, self.timeout / 4)):
            if self._unnamed.is_set():
                self._unnamed.clear()
                self.know_workers()
            now = time.monotonic()
            idle = now - self._finished_at
            with self._lock:
                futures = list(self._futures.values())
            if not futures or idle < self.timeout or now < next_look:
                continue
            try:
                found = self.client.run_on_scheduler(
                    remove_silent, keys=[future.key for future in futures], silent_for=self.timeout
                )
            except Exception as error:  # the scheduler gone fails the run elsewhere
                log.warning("could not look for stalled workers: %s", error)
                continue
            next_look = now + (0 if found["removed"] else found["wait"])
            for worker in found["removed"]:
                log.warning(
                    "worker %s stalled: it held a batch and was silent for %.0f s, and no batch"
                    " finished for %.0f s (job.stall_timeout: %g s); removed it from the cluster%s",
                    worker["worker"],
                    worker["silent"],
                    idle,
                    self.timeout,
                    ", its batches run elsewhere" if found["workers"] else "",
                )
                self.removed.append(worker["worker"])
            if found["workers"] == 0:
                self.failure = self._no_worker_left(idle)
                log.error("%s", self.failure)
                self.client.cancel(futures)
                return

    def _no_worker_left(self, idle: float) -> str:
        text = f"no batch finished in {idle:.0f} s (job.stall_timeout: {self.timeout:g} s) and "
        gone = "no worker is left"
        if not self.removed:
            return text + gone
        if len(self.removed) == 1:
            return text + f"worker {self.removed[0]} held one; it was removed, and {gone}"
        return text + f"workers {', '.join(self.removed)} held them; they were removed, and {gone}"
