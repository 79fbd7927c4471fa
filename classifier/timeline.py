"""What the source keeps for the run's report: the task stream and Dask's own report.

``batches.csv`` gets one line per batch as the source forwards it: which worker ran it,
when it started and stopped there, and when its rows went on to the receiver. It is
written a line at a time, so a run that fails leaves the batches it finished.
``dask-report.html`` is Dask's ``performance_report`` of the job, its JavaScript inlined
so that it opens without a network, written after the results.
"""

import csv
import logging
import os
import time
from pathlib import Path

from distributed import performance_report

from classifier.batches import BatchResult

log = logging.getLogger("burst.source")
BATCHES = "batches.csv"
DASK_REPORT = "dask-report.html"
FIELDS = (
    "first_line",
    "records",
    "rows_out",
    "rows_rejected",
    "worker",
    "started_at",
    "stopped_at",
    "forwarded_at",
)


class TaskLog:
    """``batches.csv`` in ``directory``; with no directory it records nothing."""

    def __init__(self, directory: Path | None):
        self._file = None
        if directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
            self._file = open(Path(directory) / BATCHES, "w", newline="", buffering=1)  # noqa: SIM115
            self._writer = csv.writer(self._file, lineterminator="\n")
            self._writer.writerow(FIELDS)

    def record(self, records: int, result: BatchResult) -> None:
        if self._file is None:
            return
        self._writer.writerow(
            (
                result.first_line,
                records,
                result.rows_out,
                len(result.rejects),
                result.worker,
                f"{result.started_at:.3f}",
                f"{result.started_at + result.seconds:.3f}",
                f"{time.time():.3f}",
            )
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class DaskReport:
    """Dask's performance report, from when this is made to ``write``: the caller writes it
    once the results are all sent, so that its seconds are not the job's, and only for a run
    that succeeded (a failed one is reported at once, not after asking a scheduler that may
    be gone). The file appears whole: the controller waits for it."""

    def __init__(self, directory: Path | None):
        self.path = None if directory is None else Path(directory) / DASK_REPORT
        if self.path is not None:
            partial = self.path.with_name(self.path.name + ".partial")
            self._report = performance_report(filename=str(partial), mode="inline")
            self._report.__enter__()

    def write(self) -> None:
        if self.path is None:
            return
        began = time.perf_counter()
        try:  # the run's results are all out: it stays a success without Dask's report
            self._report.__exit__(None, None, None)
            os.replace(self._report.filename, self.path)
        except Exception as error:
            log.warning("wrote no %s: %s", DASK_REPORT, error)
            return
        log.info("wrote %s in %.2f s", DASK_REPORT, time.perf_counter() - began)
