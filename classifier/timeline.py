"""What the source keeps for the run's report: the task stream and Dask's own report.

``batches.csv`` gets one line per batch as the source forwards it: which worker ran it,
when it started and stopped there, and when its rows went on to the receiver. It is
written a line at a time, so a run that fails leaves the batches it finished.
``dask-report.html`` is Dask's ``performance_report`` of the job, its JavaScript inlined
so that it opens without a network.
"""

import csv
import time
from contextlib import contextmanager
from pathlib import Path

from distributed import performance_report

from classifier.batches import BatchResult

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


@contextmanager
def dask_report(directory: Path | None):
    """Dask's performance report of what runs inside, written when it ends without an error:
    a failed run is reported at once rather than after asking a scheduler that may be gone."""
    if directory is None:
        yield
        return
    report = performance_report(filename=str(Path(directory) / DASK_REPORT), mode="inline")
    report.__enter__()
    yield
    report.__exit__(None, None, None)
