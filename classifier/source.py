"""The source: takes the sender's frames, batches rows into Dask tasks, forwards results.

Tasks in flight are bounded, so a fast sender is slowed by TCP flow control and
no process holds the whole input. Results are forwarded in input order, each
batch once. With the run's TLS files every link of the source speaks TLS only (the
sender's, the receiver's and its Dask client's), and the sender must end with its
tally of what it sent, which the source checks against what it took.
"""

import hashlib
import logging
import math
import tempfile
import time
from collections import deque
from concurrent.futures import CancelledError
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import dask
import numpy as np
from distributed import Client, Future, KilledWorker, wait

from classifier import (
    batches,
    calling,
    dask_cluster,
    framing,
    gate,
    link,
    records,
    stalls,
    timeline,
)
from classifier.tls import Tls

log = logging.getLogger("burst.source")
REORDER_WINDOW = 4
# A batch this big goes straight to a worker (Dask's scatter) instead of through the scheduler,
# which would hold copies of it while the task waits and runs.
SCATTER_BYTES = 1024 * 1024
SCATTER_TRIES = 10
KEPT_FRAMES = 2  # of job.max_frame_bytes: scattered batches in flight (kept on disk), at most


class RunError(Exception):
    """The input or its rejects end the run; the message says why, for the user."""


class Batcher:
    """Cuts a stream of whole-record payloads into batches of ``batch_rows`` records (which
    may change between batches).

    Small payloads (one record per frame) are gathered and cut together, once they
    hold GATHER_BYTES or enough records for a batch, so the cost per payload stays a
    few list appends.
    """

    GATHER_BYTES = 256 * 1024

    def __init__(self, batch_rows: int, max_columns: int = records.MAX_COLUMNS):
        self.batch_rows, self.max_columns = batch_rows, max_columns
        self.header: bytes | None = None
        self.rows_in = 0
        self._gathered: list[bytes] = []
        self._gathered_bytes = 0
        self._pending: list[bytes] = []  # records held back for the next batch
        self._pending_ends: list[np.ndarray] = []  # the ends of each one's records
        self._pending_records = 0
        self._next_line = 2

    def feed(self, payload: bytes):
        """The batches this payload completes."""
        data = records.terminated(payload)
        if self.header is None and not self._gathered:
            data = data.removeprefix(records.BOM)
        self._gathered.append(data)
        self._gathered_bytes += len(data)
        if (
            self.header is None
            or self._gathered_bytes >= self.GATHER_BYTES
            or len(self._gathered) >= self.batch_rows - self._pending_records
        ):
            yield from self._cut_gathered()

    def finish(self):
        """The batches still held, once the input has ended."""
        yield from self._cut_gathered()
        while self._pending_records > self.batch_rows:
            yield from self._cut_pending()
        if self._pending_records:
            yield self._pending_batch()

    def _cut_gathered(self):
        payloads, self._gathered, self._gathered_bytes = self._gathered, [], 0
        if len(payloads) > 1:
            data = b"".join(payloads)
            ends = records.ends(data)
            if np.isin(np.cumsum([len(p) for p in payloads]), ends).all():
                yield from self._cut(data, ends)
                return
        for payload in payloads:  # a payload that is not whole records must not swallow the next
            yield from self._cut(payload, records.whole_ends(payload))

    def _cut(self, data: bytes, ends):
        start = 0
        if self.header is None:
            if problem := records.columns_problem(data[: ends[0]], self.max_columns):
                raise RunError(f"line 1: {problem}")
            self.header, start = data[: ends[0]], int(ends[0])
            self._next_line = 1 + self.header.count(b"\n")
            ends = ends[1:]
        done = 0
        for index in np.flatnonzero(np.diff(ends, prepend=start) > batches.LONG_RECORD).tolist():
            # a long record is a batch of its own: a view of its frame, never copied
            yield from self._cut_records(data, start, ends[done:index])
            if self._pending_records:
                yield self._pending_batch()
            begin = int(ends[index - 1]) if index > done else start
            start, done = int(ends[index]), index + 1
            yield self._batch(_piece(data, begin, start), 1)
        yield from self._cut_records(data, start, ends[done:])

    def _cut_records(self, data: bytes, start: int, ends):
        while self._pending_records >= self.batch_rows:
            yield from self._cut_pending()
        taken = 0
        while len(ends) - taken >= (need := max(1, self.batch_rows - self._pending_records)):
            taken += need
            cut = int(ends[taken - 1])
            self._pending.append(_piece(data, start, cut))
            self._pending_records += need
            yield self._pending_batch()
            start = cut
        if taken < len(ends):
            self._pending.append(_piece(data, start, int(ends[-1])))
            self._pending_ends.append(np.asarray(ends[taken:]) - start)
            self._pending_records += len(ends) - taken

    def _cut_pending(self):
        """The records held back, cut again at a batch_rows that shrank since, each record
        ending where it ended when it came (a record cut short by its payload stays one)."""
        held = b"".join(self._pending)
        offsets = np.cumsum([0, *(len(piece) for piece in self._pending[:-1])])
        ends = np.concatenate([e + o for e, o in zip(self._pending_ends, offsets, strict=True)])
        self._pending, self._pending_ends, self._pending_records = [], [], 0
        yield from self._cut_records(held, 0, ends)

    def _pending_batch(self) -> batches.Batch:
        batch = self._batch(b"".join(self._pending), self._pending_records)
        self._pending, self._pending_ends, self._pending_records = [], [], 0
        return batch

    def _batch(self, data: bytes | memoryview, count: int) -> batches.Batch:
        batch = batches.Batch(self.header, data, self._next_line, count)
        self._next_line += records.newlines(data)
        self.rows_in += count
        return batch


class BatchSizer:
    """Rows per batch for ``job.batch_rows: auto``, from what the workers measure.

    A task costs Dask and burst some milliseconds beyond its rows, so a batch should take
    about TASK_SECONDS. The first batches are FIRST_ROWS rows (or a 1 / (2 × workers) share
    of the input, if smaller), so every worker has work at once and the first results come
    soon; a batch grows at most GROWTH times over the last, and shrinks from the next round
    when rows get slower. A worker's seconds for a batch are a part per task plus a part per
    row: both come from a least-squares fit of the results so far, each result counting
    DECAY times as much as the one after it, or the last batch's rows cost, if they cost
    more. Where the sender said how much input there is, a batch holds at most a
    1 / (2 × workers) share of the rows not yet cut when its round starts; once that share
    is TAIL_SECONDS of work or less, the rest is cut into LAST_PARTS batches a worker of one
    size (rounded up, so the last is a few rows short; cut again if the rows get more than
    twice as slow), so the last batches are small and the workers finish together. Batches
    come in rounds of one a worker, all of one size: Dask places the scattered ones on the
    workers in turn, so each worker gets the same rows. A batch holds at most MAX_BYTES of
    rows (and ``job.max_frame_bytes``).
    """

    TASK_SECONDS = 2.0
    TAIL_SECONDS = 0.25
    LAST_PARTS = 2
    FIRST_ROWS = 200
    GROWTH = 8
    DECAY = 0.75
    MAX_BYTES = 16 * 1024 * 1024

    def __init__(
        self,
        max_frame_bytes: int = framing.MAX_FRAME_BYTES,
        workers: int = 1,
        input_size: dict | None = None,
    ):
        self.wanted = self.FIRST_ROWS  # rows for the workers' pace, before the share
        self.max_bytes = min(self.MAX_BYTES, max_frame_bytes)
        self.workers = max(1, workers)
        self.input_size = input_size or {}
        self.cut_rows = self.cut_bytes = 0
        self.task_seconds = 0.0  # the fit's part per task
        self.per_row = 0.0  # the seconds a row the last size came from
        self.last_rows = 0  # the size of the last batches, once the tail is reached
        self._round_rows = self._round_left = 0  # this round's size, its cuts still to come
        self._sums = [0.0] * 6  # results, rows, seconds, bytes, rows², rows × seconds

    @property
    def rows(self) -> int:
        """Rows for the next batch cut."""
        if self._round_left:
            return self._round_rows
        if (share := self.share_left()) is None:
            return self.wanted
        return self.last_rows or max(1, int(min(self.wanted, share)))

    def cut(self, rows: int, size: int) -> None:
        """Count a batch cut from the input: ``rows`` rows, ``size`` bytes. A batch of the size
        asked starts a round; a shorter one (a long record, the rows held before one) does
        not."""
        asked = self.rows
        self.cut_rows += rows
        self.cut_bytes += size
        if self._round_left:
            self._round_left -= 1
        elif rows >= asked:
            self._round_rows, self._round_left = rows, self.workers - 1
        self._reach_the_tail()

    def _reach_the_tail(self) -> None:
        """Once a share of the rows left is TAIL_SECONDS of work or less, cut them all into
        LAST_PARTS equal parts a worker. A floor of TAIL_SECONDS a batch instead left one
        worker the last odd batch, and on a short input made batches larger than a share."""
        left = self.rows_left()
        if self.last_rows or self._round_left or left is None or not self.per_row:
            return
        parts = self.LAST_PARTS * self.workers
        if left / parts <= self.TAIL_SECONDS / self.per_row:
            rows = min(math.ceil(left / parts), self.max_bytes / max(self.bytes_per_row, 1.0))
            self.last_rows = max(1, int(rows))

    @property
    def seconds_per_row(self) -> float:
        weight, rows, seconds = self._sums[:3]
        if not rows:
            return 0.0
        return max(seconds - self.task_seconds * weight, 0.1 * seconds) / rows

    @property
    def bytes_per_row(self) -> float:
        return self._sums[3] / self._sums[1] if self._sums[1] else 0.0

    def rows_left(self) -> float | None:
        """Rows of the input not yet cut into batches, if the sender said how much there is."""
        if "records" in self.input_size:
            return max(self.input_size["records"] - 1 - self.cut_rows, 0)
        if "bytes" in self.input_size and self.bytes_per_row:  # whole rows: not the header's
            return max(self.input_size["bytes"] - self.cut_bytes, 0) // self.bytes_per_row
        return None

    def share_left(self) -> float | None:
        """A 1 / (2 × workers) share of the rows not yet cut, if the sender said how much."""
        left = self.rows_left()
        return None if left is None else left / (2 * self.workers)

    def learn(self, rows: int, seconds: float, size: int) -> int:
        """Take a finished batch of ``rows`` rows, ``size`` bytes, ``seconds`` on its worker;
        the rows of the next batch."""
        if rows <= 0:
            return self.rows
        point = (1, rows, seconds, size, rows * rows, rows * seconds)
        self._sums = [
            self.DECAY * total + value for total, value in zip(self._sums, point, strict=True)
        ]
        weight, rows_sum, seconds_sum, _, squares, products = self._sums
        spread = weight * squares - rows_sum**2
        if spread > 0.1 * rows_sum**2:  # batches of different sizes: the fit can tell the parts
            per_row = (weight * products - rows_sum * seconds_sum) / spread
            self.task_seconds = min(max((seconds_sum - per_row * rows_sum) / weight, 0.0), 0.5)
        latest = max(seconds - self.task_seconds, 0.1 * seconds) / rows  # slower at once
        self.per_row = per_row = max(self.seconds_per_row, latest, 1e-9)
        if self.last_rows * per_row > 2 * self.TAIL_SECONDS and self.rows_left():
            self.last_rows = 0  # the rows got slower: what is left is cut again
        wanted = min(
            max(self.TASK_SECONDS - self.task_seconds, self.TASK_SECONDS / 2) / per_row,
            self.max_bytes / max(self.bytes_per_row, 1.0),
            self.rows * self.GROWTH,
        )
        self.wanted = max(1, int(wanted))
        self._reach_the_tail()
        return self.rows


def _piece(data: bytes, start: int, stop: int) -> bytes | memoryview:
    """``data[start:stop]``, for a batch's join: a view, so a long record is copied once."""
    return data if (start, stop) == (0, len(data)) else memoryview(data)[start:stop]


def _send_rows(receiver, count: int, rows: bytes | memoryview) -> None:
    """A ROWS frame, its rows sent as they are rather than copied into the frame."""
    head = link.ROWS + link.COUNT.pack(count)
    receiver.sendall(framing.LENGTH.pack(len(head) + memoryview(rows).nbytes) + head)
    receiver.sendall(rows)


def scheduler_address(address: str, tls: Tls | None) -> str:
    """The address to connect to: ``tls://`` with TLS files (added if the scheme is missing)."""
    scheme = address.split("://", 1)[0] if "://" in address else None
    if tls is None:
        if scheme == "tls":
            raise ValueError(
                f"--scheduler {address}: a tls:// address needs --tls-ca-file, --tls-cert"
                " and --tls-key"
            )
        return address
    if scheme is None:
        return f"tls://{address}"
    if scheme != "tls":
        raise ValueError(f"--scheduler {address}: with TLS files, expected a tls:// address")
    return address


class KeptBatch:
    """A scattered batch's copy, kept on disk rather than in memory until its result is back:
    the worker holding the batch may leave the cluster, and the source then sends it again."""

    def __init__(self, batch: batches.Batch):
        self.header, self.first_line, self.records = batch.header, batch.first_line, batch.records
        self.size = len(batch.data)
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close)
        self._file.write(batch.data)

    def batch(self) -> batches.Batch:
        self._file.seek(0)
        return batches.Batch(self.header, self._file.read(), self.first_line, self.records)

    def close(self) -> None:
        self._file.close()


@dataclass
class Task:
    """A batch in flight; a scattered one with its copy (``kept``)."""

    future: Future
    first_line: int
    records: int
    size: int
    kept: KeptBatch | None = None
    held: Future | None = None
    tries: int = 0

    def lost(self) -> bool:
        return self.kept is not None and self.future.status == "cancelled"

    def done_with(self) -> None:
        if self.kept is not None:
            self.kept.close()
        self.kept = self.held = None


@dataclass(frozen=True)
class Job:
    call: calling.Call
    batch_rows: int | None  # None: sized by BatchSizer (job.batch_rows: auto)
    max_in_flight: int  # 0: twice the workers
    workers: int
    on_error: str = "fail"
    max_rejects: float | None = None  # a count of rows, or below 1 a fraction of the rows in
    max_frame_bytes: int = framing.MAX_FRAME_BYTES
    first_frame_timeout: float = 30
    max_columns: int = records.MAX_COLUMNS
    stall_timeout: float = stalls.TIMEOUT

    def rejects_problem(self, rejected: int, rows_in: int | None) -> str | None:
        """Why ``rejected`` rows are too many: a count is checked as rows come back, a
        fraction once ``rows_in`` is known."""
        limit = self.max_rejects
        if limit is None or rejected == 0:
            return None
        if 0 < limit < 1:
            if rows_in is None or rejected <= limit * rows_in:
                return None
            allowed = f"{limit:g} of the rows in"
        elif rejected <= limit:
            return None
        else:
            allowed = f"{int(limit)} rows"
        share = f" of {rows_in} in ({100 * rejected / rows_in:.1f} %)" if rows_in else ""
        return (
            f"{rejected} rows rejected{share}, more than job.max_rejects ({allowed});"
            " rejects.csv gives each one's line and reason"
        )


def run(
    listen: tuple[str, int],
    scheduler: str,
    sink: tuple[str, int],
    job: Job,
    connect_timeout: float = 60,
    tls: Tls | None = None,
    report_dir: Path | None = None,
) -> int:
    """Serve one run. With ``report_dir``, keep its task stream and Dask's report there
    (``classifier.timeline``)."""
    job.call.keywords()
    address = scheduler_address(scheduler, tls)
    security = tls.security() if tls else None
    with gate.Gate(
        listen,
        "sender",
        sender_check,
        log,
        job.max_frame_bytes,
        job.first_frame_timeout,
        tls=tls.server_context() if tls else None,
        preamble=lambda payload: framing.input_size(payload) is not None,
    ) as senders:
        log.info("listening on %s:%d%s", *listen, " (TLS)" if tls else "")
        receiver = framing.connect(sink, connect_timeout, tls.client_context() if tls else None)
        log.info("connected to the receiver at %s:%d", *sink)
        tasks = timeline.TaskLog(report_dir)
        try:
            receiver.sendall(
                framing.encode(
                    link.summary(classifier=job.call.classifier, slowness=job.call.slowness)
                )
            )
            with (
                dask.config.set(dask_cluster.SETTINGS),
                Client(
                    address, security=security, timeout=connect_timeout, direct_to_workers=True
                ) as client,
                stalls.StallWatch(client, job.stall_timeout) as watch,
            ):
                try:
                    dask_report = timeline.DaskReport(report_dir)
                    _serve(
                        senders,
                        receiver,
                        client,
                        watch,
                        job,
                        connect_timeout,
                        tls is not None,
                        tasks,
                    )
                    receiver.sendall(framing.encode(framing.END))
                    dask_report.write()
                    return 0
                except Exception:
                    with suppress(OSError):
                        receiver.sendall(framing.encode(link.summary(**workers_gone(watch))))
                    if not watch.failure:
                        raise
                    raise RunError(watch.failure) from None
        except Exception as error:
            log.error("source failed: %s", error)
            with suppress(OSError):
                receiver.sendall(framing.encode(link.error(f"source: {error}")))
            return 1
        except KeyboardInterrupt as signal_name:
            with suppress(OSError):
                stopped = f"source: stopped by {str(signal_name) or 'SIGINT'}"
                receiver.sendall(framing.encode(link.error(stopped)))
            raise
        finally:
            tasks.close()
            receiver.close()


def sender_check(payload: bytes) -> str | None:
    """Why a first frame is not a sender's (None if it is): the end of an empty input, or a
    header line of text."""
    if framing.is_end(payload):
        return None
    problem = records.header_problem(payload)
    return problem and f"its first frame is no CSV header: {problem}"


def tally_problem(said: dict | None, took: dict, required: bool) -> str | None:
    """Why the sender's tally of what it sent does not match what the source took."""
    if said is None:
        return "the sender sent no tally of its rows (records, bytes, sha256)" if required else None
    if {key: said[key] for key in took} == took:
        return None
    return (
        f"the sender sent {said['records']} records ({said['bytes']} bytes, sha256"
        f" {said['sha256'][:12]}…) but the source took {took['records']} ({took['bytes']} bytes,"
        f" sha256 {took['sha256'][:12]}…): rows were lost or added between them"
    )


def workers_gone(watch: stalls.StallWatch) -> dict:
    """The summary's workers that left mid-run: removed as stalled, or lost on their own."""
    return {"stalled_workers": list(watch.removed), "lost_workers": list(watch.lost)}


def _sender_frames(first: bytes, reader: framing.FrameReader):
    """The sender's frames; a broken connection is named as the sender's."""
    yield first
    try:
        yield from reader
    except OSError as error:
        raise ConnectionError(f"the sender's connection broke mid-frame: {error}") from None


def _serve(
    senders: gate.Gate,
    receiver,
    client,
    watch: stalls.StallWatch,
    job: Job,
    connect_timeout: float,
    tally_required: bool,
    tasks: timeline.TaskLog,
) -> None:
    """Everything of the run up to the end of the results, which the caller sends."""
    _, first, reader = senders.take()
    client.wait_for_workers(job.workers, timeout=connect_timeout)
    log.info("%d workers ready", job.workers)
    watch.know_workers()
    started_at = time.time()
    receiver.sendall(framing.encode(link.summary(input_started_at=started_at)))
    sizer = None
    if job.batch_rows is None:
        said = framing.input_size(senders.preamble)  # how much input the sender said follows
        sizer = BatchSizer(job.max_frame_bytes, job.workers, said)
    batcher = Batcher(job.batch_rows or sizer.rows, job.max_columns)
    max_in_flight = job.max_in_flight or 2 * job.workers
    log.info(
        "batches of %s, %d in flight at most",
        f"{job.batch_rows} rows" if sizer is None else f"{sizer.rows} rows to start (auto)",
        max_in_flight,
    )
    in_flight: deque = deque()
    sent = {"rows_out": 0, "rejected": 0, "header": False, "gone": workers_gone(watch)}
    logged_rows = batcher.batch_rows  # the size the log last gave

    def start(batch: batches.Batch, tries: int = 0) -> Task:
        held = scatter(batch) if len(batch.data) >= SCATTER_BYTES else None
        if sizer is not None and not tries:
            sizer.cut(batch.records, len(batch.data))
            size_batches(sizer.rows)
        task = Task(
            client.submit(
                batches.process,
                batch if held is None else held,
                job.call,
                on_error=job.on_error,
                pure=False,
            ),
            batch.first_line,
            batch.records,
            len(batch.data),
        )
        if held is not None:
            task.kept, task.held, task.tries = KeptBatch(batch), held, tries
        watch.track(task.future)
        return task

    def scatter(batch: batches.Batch) -> Future:
        """The batch on a worker; the next worker in turn if one does not take it within
        job.stall_timeout (a frozen one) or has gone."""
        for _ in range(SCATTER_TRIES):
            try:  # Client.scatter bounds only its wait for a worker, not the sending
                return client.sync(
                    client._scatter,
                    [batch],
                    direct=True,
                    hash=False,
                    callback_timeout=job.stall_timeout,
                )[0]
            except (TimeoutError, OSError) as error:
                if watch.failure:
                    raise RunError(watch.failure) from None
                timed_out = isinstance(error, TimeoutError)
                log.warning(
                    "a worker did not take the batch from input line %d (%s); sending it to"
                    " the next",
                    batch.first_line,
                    f"not within job.stall_timeout, {job.stall_timeout:g} s"
                    if timed_out
                    else error,
                )
        raise RunError(
            f"no worker took the batch from input line {batch.first_line} in {SCATTER_TRIES}"
            f" tries of job.stall_timeout ({job.stall_timeout:g} s) each"
        )

    def revive(task: Task) -> None:
        """Send a lost scattered batch again, up to Dask's own limit of retries per task."""
        watch.forget(task.future)
        if watch.failure or task.tries >= dask.config.get("distributed.scheduler.allowed-failures"):
            task.future.result()  # raises: cancelled
        log.warning(
            "the worker holding the batch from input line %d left the cluster; sending it again",
            task.kept.first_line,
        )
        again = start(task.kept.batch(), task.tries + 1)
        task.done_with()
        task.future, task.kept, task.held, task.tries = (
            again.future,
            again.kept,
            again.held,
            again.tries,
        )

    def forward(task: Task) -> None:
        while True:
            with suppress(CancelledError):
                wait(task.future)
            if task.lost() and not watch.failure:
                revive(task)
                continue
            try:  # a scattered batch's result comes straight from its worker
                result: batches.BatchResult = client.gather(
                    task.future, direct=task.kept is not None
                )
                break
            except CancelledError:  # its worker left before the result was taken
                if not task.lost() or watch.failure:
                    raise
                revive(task)
            except KilledWorker as error:
                last = getattr(error.last_worker, "address", error.last_worker)
                raise RunError(
                    f"the batch from input line {task.first_line} took down every worker that"
                    f" ran it ({last} last): a worker is restarted when it passes 95 % of its"
                    " memory limit (its host's memory shared by its workers and one more) or"
                    " crashes; its log says which"
                ) from None
        task.done_with()
        watch.forget(task.future)
        tell_stalls()
        if result.rejects:
            receiver.sendall(framing.encode(link.rejects(result.rejects)))
            sent["rejected"] += len(result.rejects)
        if sizer is not None:
            size_batches(sizer.learn(task.records, result.seconds, task.size))
        _send_rows(receiver, result.rows_out, result.rows)
        tasks.record(task.records, result)
        sent["rows_out"] += result.rows_out
        if problem := job.rejects_problem(sent["rejected"], None):
            raise RunError(problem)

    def size_batches(rows: int) -> None:
        """Cut the next batches ``rows`` rows long; log a size a quarter off the last logged,
        while rows are left to cut."""
        nonlocal logged_rows
        if sizer.per_row and sizer.rows_left() != 0 and not 0.8 <= rows / logged_rows <= 1.25:
            log.info(
                "batches of %d rows now: %.3g ms a row on the workers, %.0f bytes a row",
                rows,
                1000 * sizer.per_row,
                sizer.bytes_per_row,
            )
            logged_rows = rows
        batcher.batch_rows = rows

    def tell_stalls() -> None:
        if (gone := workers_gone(watch)) != sent["gone"]:
            receiver.sendall(framing.encode(link.summary(**gone)))
            sent["gone"] = gone

    def send_header() -> None:
        if not sent["header"]:
            header = batches.results_header(batcher.header, job.call.result_column)
            receiver.sendall(framing.encode(link.HEADER + header))
            sent["header"] = True

    def submit_all(cut) -> None:
        for batch in cut:
            send_header()
            in_flight.append(start(batch))
            settle()

    def settle() -> None:
        """Forward finished batches in order; return once fewer than max_in_flight still run.

        Finished batches behind an unfinished one wait here (at most REORDER_WINDOW times
        max_in_flight of them), so a slow batch never leaves a worker idle. The scattered
        batches in flight (their copies kept on disk) hold at most KEPT_FRAMES frames of bytes,
        or one batch.
        """
        while True:
            for task in in_flight:
                if task.lost():
                    revive(task)
            while in_flight and in_flight[0].future.done():
                forward(in_flight.popleft())
            running = [task.future for task in in_flight if not task.future.done()]
            kept = sum(task.kept.size for task in in_flight if task.kept is not None)
            if (
                len(running) < max_in_flight
                and len(in_flight) < REORDER_WINDOW * max_in_flight
                and (kept <= KEPT_FRAMES * job.max_frame_bytes or len(in_flight) <= 1)
            ):
                return
            try:
                wait(running, return_when="FIRST_COMPLETED")
            except CancelledError:  # a lost batch is sent again above; else the run fails
                if watch.failure:
                    raise

    end, digest, taken_bytes = None, hashlib.sha256(), 0
    for payload in _sender_frames(first, reader):
        if framing.is_end(payload):
            end = payload
            break
        digest.update(payload)
        taken_bytes += len(payload)
        submit_all(batcher.feed(payload))
    if end is None:
        raise ConnectionError("the sender closed its connection before the end-of-input frame")
    last = list(batcher.finish())
    took = {
        "records": batcher.rows_in + (batcher.header is not None),
        "bytes": taken_bytes,
        "sha256": digest.hexdigest(),
    }
    said = framing.tally(end)
    if problem := tally_problem(said, took, tally_required):
        raise RunError(problem)
    with suppress(OSError):  # tells the sender that every frame was taken
        senders.connection.sendall(framing.encode(framing.END))
    submit_all(last)
    del last
    while in_flight:
        forward(in_flight.popleft())
    if batcher.header is not None:
        send_header()  # a header-only input has no batch
    receiver.sendall(
        framing.encode(
            link.summary(
                rows_in=batcher.rows_in,
                rows_rejected=sent["rejected"],
                input_started_at=started_at,
                classifier=job.call.classifier,
                slowness=job.call.slowness,
                input={**(said or {}), **took, "tallied": said is not None},
                **workers_gone(watch),
            )
        )
    )
    if batcher.header is None:
        raise RunError("the input is empty: not even a header row")
    if problem := job.rejects_problem(sent["rejected"], batcher.rows_in):
        raise RunError(problem)
    log.info(
        "done: %d rows in, %d out, %d rejected", batcher.rows_in, sent["rows_out"], sent["rejected"]
    )
