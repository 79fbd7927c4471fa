"""The receiver: writes results.csv, rejects.csv, manifest.json and results.tgz.

It streams rows to disk as they come and keeps ``progress.json`` current, so the
controller can show progress and learn why a run failed. With the run's TLS files,
only a source with the run's certificate gets past the handshake.
"""

import csv
import hashlib
import json
import logging
import os
import signal
import time
from contextlib import suppress
from pathlib import Path

from classifier import framing, gate, link
from classifier.archive import StreamingArchive
from classifier.tls import Tls

log = logging.getLogger("burst.receiver")
PROGRESS_EVERY = 0.5


def _write_json(path: Path, data: dict) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(partial, path)


class Results:
    def __init__(self, out_dir: Path):
        self.dir = out_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.csv = open(self.dir / "results.csv", "wb")  # noqa: SIM115
        self.archive = StreamingArchive(self.dir / "results.tgz.partial", "results.csv")
        self.rejects_file = None
        self.sha256 = hashlib.sha256()
        self.rows_out = 0
        self.rows_rejected = 0
        self.summary: dict = {}
        self.error: str | None = None
        self.started_at = time.time()
        self._progress_at = 0.0

    def write_rows(self, data: bytes) -> None:
        self.csv.write(data)
        self.sha256.update(data)
        self.archive.write(data)

    def write_rejects(self, items) -> None:
        if self.rejects_file is None:
            self.rejects_file = open(self.dir / "rejects.csv", "w", newline="")  # noqa: SIM115
            self.rejects_writer = csv.writer(self.rejects_file, lineterminator="\n")
            self.rejects_writer.writerow(["line", "reason", "record"])
        self.rejects_writer.writerows(items)
        self.rows_rejected += len(items)

    def progress(self, state: str, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._progress_at < PROGRESS_EVERY:
            return
        self._progress_at = now
        _write_json(
            self.dir / "progress.json",
            {
                "state": state,
                "rows_out": self.rows_out,
                "rows_rejected": self.rows_rejected,
                "rows_in": self.summary.get("rows_in"),
                "input": self.summary.get("input"),
                "started_at": self.summary.get("input_started_at", self.started_at),
                "updated_at": now,
                "error": self.error,
            },
        )

    def finish(self, complete: bool) -> dict:
        self.csv.close()
        if self.rejects_file:
            self.rejects_file.close()
        rows_in = self.summary.get("rows_in")
        manifest = {
            "complete": complete,
            "partial": rows_in is None,  # the source's count of the rows in never came
            "error": self.error,
            "rows_in": rows_in,
            "rows_out": self.rows_out,
            "rows_rejected": self.rows_rejected,
            "balanced": rows_in == self.rows_out + self.rows_rejected,
            "results_sha256": self.sha256.hexdigest(),
            "started_at": self.summary.get("input_started_at", self.started_at),
            "finished_at": time.time(),
            "classifier": self.summary.get("classifier"),
            "slowness": self.summary.get("slowness"),
            "input": self.summary.get("input"),  # what the source took, and if the sender's tally
            "stalled_workers": self.summary.get("stalled_workers", []),  # removed mid-run
            "lost_workers": self.summary.get("lost_workers", []),  # left mid-run on their own
        }
        manifest["seconds"] = round(manifest["finished_at"] - manifest["started_at"], 3)
        _write_json(self.dir / "manifest.json", manifest)
        self.archive.close([self.dir / "rejects.csv", self.dir / "manifest.json"])
        os.replace(self.dir / "results.tgz.partial", self.dir / "results.tgz")
        return manifest


def source_check(payload: bytes) -> str | None:
    """Why a first frame is not a burst source's (None if it is): the source opens with a
    summary of the job."""
    try:
        if payload[:1] == link.SUMMARY and isinstance(json.loads(payload[1:]), dict):
            return None
    except ValueError:
        pass
    return "its first frame is not a burst source's summary"


ROWS_HEAD = 1 + link.COUNT.size
HOLD_AT_MOST = 1024 * 1024  # of a frame of rows: a longer one is written a piece at a time


def _frames(first: bytes, reader: framing.FrameReader):
    yield first
    while (payload := reader.read(HOLD_AT_MOST, ROWS_HEAD)) is not None:
        yield payload


def _receive(payloads, results: Results) -> bool:
    """Take the source's frames until its end-of-results frame (True) or its leaving (False)."""
    for payload in payloads:
        if isinstance(payload, framing.LongPayload):
            if payload.head[:1] != link.ROWS:
                payload = b"".join([payload.head, *payload.pieces()])
            else:
                (count,) = link.COUNT.unpack_from(payload.head, 1)
                for piece in payload.pieces():
                    results.write_rows(piece)
                results.rows_out += count
                results.progress("running")
                continue
        if payload == framing.END:
            return True
        tag = payload[:1]
        if tag == link.ROWS:  # the rows are written from the frame itself, never copied
            (count,) = link.COUNT.unpack_from(payload, 1)
            with memoryview(payload) as view:
                results.write_rows(view[ROWS_HEAD:])
            results.rows_out += count
        elif tag == link.HEADER:
            results.write_rows(payload[1:])
        elif tag == link.REJECTS:
            results.write_rejects(json.loads(payload[1:]))
        elif tag == link.SUMMARY:
            results.summary.update(json.loads(payload[1:]))
        elif tag == link.ERROR:
            results.error = payload[1:].decode("utf-8", "replace")
        else:
            raise framing.FramingError(f"unknown frame tag {tag!r} from the source")
        results.progress("running")
    return False


def run(
    listen: tuple[str, int],
    out_dir: Path,
    max_frame_bytes: int = framing.MAX_FRAME_BYTES,
    first_frame_timeout: float = 30,
    tls: Tls | None = None,
) -> int:
    """Write what the source sends. A SIGTERM or SIGINT ends the stream between two frames,
    and the manifest, marked partial, still goes beside the rows written so far."""
    results = Results(Path(out_dir))
    results.progress("waiting", force=True)
    stopped_by, ended, problem = [], False, None
    try:
        with gate.Gate(
            listen,
            "source",
            source_check,
            log,
            max_frame_bytes,
            first_frame_timeout,
            tls=tls.server_context() if tls else None,
        ) as sources:

            def stop(signum, _frame):
                stopped_by.append(signal.Signals(signum).name)
                if sources.connection is not None:  # the read in progress sees the end
                    framing.shutdown(sources.connection)

            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, stop)
            log.info("listening on %s:%d%s", *listen, " (TLS)" if tls else "")
            while not stopped_by:
                with suppress(TimeoutError):
                    _, first, reader = sources.take(timeout=0.2)
                    reader.max_frame_bytes = framing.NO_LIMIT  # a batch's rows are one frame
                    ended = _receive(_frames(first, reader), results)
                    break
    except (OSError, ValueError, MemoryError) as error:
        problem = f"receiver: {error}"
    if stopped_by and not ended:
        problem = f"receiver: stopped by {stopped_by[0]} before the end of the results"
    elif not ended and problem is None:
        problem = "source: connection closed before the end of the results"
    results.error = results.error or problem
    manifest = results.finish(complete=ended and results.error is None)
    if manifest["complete"] and not manifest["balanced"]:
        results.error = (
            f"rows do not balance: {manifest['rows_in']} in, {manifest['rows_out']}"
            f" out, {manifest['rows_rejected']} rejected"
        )
    results.progress("done" if results.error is None else "failed", force=True)
    if results.error:
        log.error("run failed: %s", results.error)
        return 1
    log.info(
        "done: %d rows out, %d rejected, sha256 %s",
        manifest["rows_out"],
        manifest["rows_rejected"],
        manifest["results_sha256"],
    )
    return 0
