"""The sender: reads the row source and streams it to the source port in frames.

It ends with its tally of what it sent (records, bytes, SHA-256), which the source
checks against what it took, so a run can succeed only on the sender's own rows, and
which input they are. A file is read as it was when opened, an S3 object as its GET
announced it; a change or a short read fails the sender before the end of the input.
"""

import hashlib
import logging
import os
import ssl
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass

from classifier import framing, records, synthetic
from classifier.tls import Tls

log = logging.getLogger("burst.sender")
READ_BYTES = 1024 * 1024
FRAME_ROWS = 500
SEND_BUFFER_BYTES = 64 * 1024  # small frames go out together; a larger one goes out at once


def stream_payloads(
    stream,
    one_per_frame: bool,
    max_frame_bytes: int = framing.MAX_FRAME_BYTES,
    max_columns: int = records.MAX_COLUMNS,
):
    """Whole records from a binary stream of CSV, about a read buffer at a time (or one by one),
    each payload at most ``max_frame_bytes``.

    A record longer than that (an unclosed quote makes the rest of the input one record),
    or a header of more than ``max_columns`` columns, stops the stream with a ValueError
    that names its line.

    A record longer than a read grows in one buffer, scanned for its end again only once
    it has doubled (or passed the limit), so it costs time linear in its size and about its
    size in memory: a payload over ``LARGE_PAYLOAD_BYTES`` is that buffer (a bytearray).
    """
    pending, scanned, line, started = bytearray(), 0, 1, False
    while chunk := stream.read(READ_BYTES):
        pending += chunk
        del chunk
        if not started:
            if len(pending) < len(records.BOM) and records.BOM.startswith(pending):
                continue
            if pending.startswith(records.BOM):
                del pending[: len(records.BOM)]
            started = True
        if len(pending) < 2 * scanned and len(pending) <= max_frame_bytes:
            continue  # a long record: not scanned again until it has doubled
        end = records.complete_prefix(pending)
        if not end:
            if len(pending) > max_frame_bytes:
                raise _too_long(line, max_frame_bytes)
            scanned = len(pending)
            continue
        if line == 1:
            _check_header(pending, max_columns)
        rest = pending[end:]
        whole, pending, scanned = _cut(pending, end), rest, 0
        del rest
        yield from _payloads(whole, one_per_frame, max_frame_bytes, line)
        line += whole.count(b"\n")
        del whole
    if pending:
        if line == 1:
            _check_header(pending, max_columns)
        if len(pending) > max_frame_bytes:
            raise _too_long(line, max_frame_bytes)
        yield _cut(pending, len(pending))


LARGE_PAYLOAD_BYTES = 4 * READ_BYTES


def _cut(pending: bytearray, end: int) -> bytes | bytearray:
    """The first ``end`` bytes of ``pending``: a copy, or for a large payload ``pending``
    itself cut short (so it is not held twice); the caller takes what follows first."""
    if end <= LARGE_PAYLOAD_BYTES:
        return bytes(pending[:end])
    del pending[end:]
    return pending


def _payloads(whole: bytes, one_per_frame: bool, max_frame_bytes: int, line: int):
    """``whole`` (whole records, the first on ``line``): one record per payload, or as few
    payloads as the limit allows."""
    if not whole or (not one_per_frame and len(whole) <= max_frame_bytes):
        yield from (whole,) if whole else ()
        return
    piece = start = 0
    for stop in records.ends(whole).tolist():
        if stop - start > max_frame_bytes:
            raise _too_long(line + whole.count(b"\n", 0, start), max_frame_bytes)
        if start > piece and (one_per_frame or stop - piece > max_frame_bytes):
            yield whole[piece:start]
            piece = start
        start = stop
    yield whole[piece:]


def _check_header(data: bytes, max_columns: int) -> None:
    if problem := records.header_problem(data) or records.columns_problem(data, max_columns):
        raise ValueError(f"line 1: {problem}")


def _too_long(line: int, max_frame_bytes: int) -> ValueError:
    return ValueError(
        f"line {line}: a record longer than job.max_frame_bytes ({max_frame_bytes} bytes);"
        " raise the limit, or look for a quote that is never closed"
    )


@dataclass
class Input:
    """The payloads of a file or an S3 object, and which input it is, for the tally; how
    much input there is, where that is known (``framing.size_frame``)."""

    payloads: Iterator[bytes]
    identity: dict[str, str]
    size: dict[str, int] | None = None

    def __iter__(self):
        return self.payloads


class PinnedFile:
    """A file read up to the size it had when it was opened. A change meanwhile (it grew,
    shrank, was rewritten, replaced or removed) is an OSError naming it, raised by the read
    that sees it: at the latest the one at the end, before a torn last record is sent."""

    def __init__(self, path: str):
        self.path = path
        self._stream = open(path, "rb")  # noqa: SIM115
        self._opened = os.fstat(self._stream.fileno())
        self.size = self._left = self._opened.st_size
        if not stat.S_ISREG(self._opened.st_mode):
            self._stream.close()
            raise OSError(f"{path} is not a regular file, whose size can be checked as it is sent")

    def read(self, size: int) -> bytes:
        data = self._stream.read(min(size, self._left))
        self._left -= len(data)
        if problem := self._change(ended=not data):
            raise OSError(f"{self.path} changed while it was being sent: {problem}")
        return data

    def _change(self, ended: bool) -> str | None:
        was, now = self._opened, os.fstat(self._stream.fileno())
        if now.st_size != was.st_size:
            change = now.st_size - was.st_size
            how = f"grew by {change}" if change > 0 else f"shrank by {-change}"
            return f"{was.st_size} bytes when opened, {now.st_size} now (it {how} bytes)"
        if now.st_mtime_ns != was.st_mtime_ns:
            return f"it was rewritten (the same {was.st_size} bytes, modified since it was opened)"
        if not ended:
            return None
        if self._left:
            return f"it ended after {was.st_size - self._left} of its {was.st_size} bytes"
        if self._stream.read(1):
            return f"it holds more than the {was.st_size} bytes it had when opened"
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return "it was removed"
        if (named.st_dev, named.st_ino) != (was.st_dev, was.st_ino):
            return "it was replaced by another file"
        return None

    def close(self) -> None:
        self._stream.close()


class S3Object:
    """An S3 object's body, which must be as long as the ContentLength of its GET: S3 serves
    one version of the object per GET, so that many bytes are the ETag's version whole."""

    def __init__(self, url: str, got: dict):
        self.url, self._body = url, got["Body"]
        self.size, self.etag = got["ContentLength"], got["ETag"].strip('"')
        self._read = 0

    def read(self, size: int) -> bytes:
        from botocore.exceptions import BotoCoreError, IncompleteReadError

        try:
            data = self._body.read(size)
        except IncompleteReadError:  # botocore's own check of the length
            raise OSError(self._short("")) from None
        except BotoCoreError as error:
            raise OSError(self._short(f": {error}")) from None
        self._read += len(data)
        if not data and self._read != self.size:
            raise OSError(self._short(""))
        return data

    def _short(self, cause: str) -> str:
        return (
            f"{self.url} (ETag {self.etag}): the download ended after {self._read} of the"
            f" object's {self.size} bytes{cause}"
        )

    def close(self) -> None:
        self._body.close()


def file_payloads(
    path: str,
    one_per_frame: bool,
    max_frame_bytes: int = framing.MAX_FRAME_BYTES,
    max_columns: int = records.MAX_COLUMNS,
) -> Input:
    """The CSV file at ``path``, opened at once, so a missing file fails before connecting,
    and read as it was then (``PinnedFile``)."""
    stream = PinnedFile(path)  # closed by _closing
    payloads = stream_payloads(stream, one_per_frame, max_frame_bytes, max_columns)
    return Input(
        _closing(stream, payloads), {"file": os.path.abspath(path)}, {"bytes": stream.size}
    )


def s3_payloads(
    url: str,
    one_per_frame: bool,
    max_frame_bytes: int = framing.MAX_FRAME_BYTES,
    max_columns: int = records.MAX_COLUMNS,
) -> Input:
    """The object at ``s3://bucket/key``, streamed as it downloads, never held whole.

    The object is opened at once, so a missing one fails before the sender connects.
    boto3 finds credentials, region and endpoint (AWS_ENDPOINT_URL) the usual way.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = url.removeprefix("s3://").partition("/")
    try:
        got = boto3.client("s3").get_object(Bucket=bucket, Key=key)
    except (BotoCoreError, ClientError) as error:
        raise OSError(f"cannot read {url}: {error}") from None
    stream = S3Object(url, got)
    payloads = stream_payloads(stream, one_per_frame, max_frame_bytes, max_columns)
    return Input(
        _closing(stream, payloads), {"s3": url, "etag": stream.etag}, {"bytes": stream.size}
    )


def _closing(stream, payloads):
    try:
        yield from payloads
    finally:
        stream.close()


def synthetic_payloads(rows: int, seed: int, one_per_frame: bool) -> Input:
    chunks = synthetic.chunks(rows, seed, 1 if one_per_frame else FRAME_ROWS)
    return Input(chunks, {}, {"records": rows + 1})


def run(
    to: tuple[str, int],
    payloads,
    connect_timeout: float = 60,
    tls: Tls | None = None,
    one_record_per_frame: bool = False,
    identity: dict[str, str] | None = None,
    size: dict[str, int] | None = None,
) -> int:
    """Send every payload, then the end frame with the tally and the input's ``identity``;
    return once the source answers END, which it does when it has taken every frame and
    found the tally right: a sender the source refused, or that stopped reading, fails."""
    sock = framing.connect(to, connect_timeout, tls.client_context() if tls else None)
    log.info("connected to the source at %s:%d%s", *to, " over TLS" if tls else "")
    started = time.monotonic()
    frames = sent = sent_records = 0
    digest = hashlib.sha256()
    answer, problem = None, "it closed the connection"
    try:
        with sock, sock.makefile("wb", buffering=SEND_BUFFER_BYTES) as stream:
            if size:
                stream.write(framing.encode(framing.size_frame(**size)))
            for payload in payloads:
                stream.write(framing.LENGTH.pack(len(payload)))
                stream.write(payload)
                digest.update(payload)
                frames += 1
                sent += len(payload)
                sent_records += 1 if one_record_per_frame else records.count_whole(payload)
            tally = framing.end_of_input(sent_records, sent, digest.hexdigest(), **(identity or {}))
            stream.write(framing.encode(tally))
            stream.flush()
            answer = framing.FrameReader(sock, len(framing.END)).read()
    except (ConnectionError, ssl.SSLError) as error:  # a reset, a TLS alert, a frame not END
        problem = str(error) or type(error).__name__
    if answer != framing.END:
        raise framing.PeerLost(
            f"the source at {to[0]}:{to[1]} did not confirm that it took every row:"
            f" it refused this sender or stopped reading ({problem}; see its log)"
        )
    log.info(
        "sent %d records in %d frames, %d bytes (sha256 %s) in %.2f s",
        sent_records,
        frames,
        sent,
        digest.hexdigest(),
        time.monotonic() - started,
    )
    return 0
