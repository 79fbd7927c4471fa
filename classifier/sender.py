"""The sender: reads the row source and streams it to the source port in frames.

It ends with its tally of what it sent (records, bytes, SHA-256), which the source
checks against what it took, so a run can succeed only on the sender's own rows.
"""

import hashlib
import logging
import ssl
import time

from classifier import framing, records, synthetic
from classifier.tls import Tls

log = logging.getLogger("burst.sender")
READ_BYTES = 1024 * 1024
FRAME_ROWS = 500
SEND_BUFFER_BYTES = 64 * 1024  # small frames go out together; a larger one goes out at once


def stream_payloads(stream, one_per_frame: bool, max_frame_bytes: int = framing.MAX_FRAME_BYTES):
    """Whole records from a binary stream of CSV, about a read buffer at a time (or one by one),
    each payload at most ``max_frame_bytes``.

    A record longer than that (an unclosed quote makes the rest of the input one record)
    stops the stream with a ValueError that names its line.
    """
    rest, line, started = b"", 1, False
    while chunk := stream.read(READ_BYTES):
        data = rest + chunk
        if not started:
            if len(data) < len(records.BOM) and records.BOM.startswith(data):
                rest = data
                continue
            data, started = data.removeprefix(records.BOM), True
        end = records.complete_prefix(data)
        if not end and len(data) > max_frame_bytes:
            raise _too_long(line, max_frame_bytes)
        if line == 1 and end:
            _check_header(data)
        yield from _payloads(data[:end], one_per_frame, max_frame_bytes, line)
        rest, line = data[end:], line + data.count(b"\n", 0, end)
    if rest:
        if line == 1:
            _check_header(rest)
        if len(rest) > max_frame_bytes:
            raise _too_long(line, max_frame_bytes)
        yield rest


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


def _check_header(data: bytes) -> None:
    if problem := records.header_problem(data):
        raise ValueError(f"line 1: {problem}")


def _too_long(line: int, max_frame_bytes: int) -> ValueError:
    return ValueError(
        f"line {line}: a record longer than job.max_frame_bytes ({max_frame_bytes} bytes);"
        " raise the limit, or look for a quote that is never closed"
    )


def file_payloads(path: str, one_per_frame: bool, max_frame_bytes: int = framing.MAX_FRAME_BYTES):
    """The CSV file at ``path``, opened at once, so a missing file fails before connecting."""
    stream = open(path, "rb")  # closed by _closing
    return _closing(stream, stream_payloads(stream, one_per_frame, max_frame_bytes))


def s3_payloads(url: str, one_per_frame: bool, max_frame_bytes: int = framing.MAX_FRAME_BYTES):
    """The object at ``s3://bucket/key``, streamed as it downloads, never held whole.

    The object is opened at once, so a missing one fails before the sender connects.
    boto3 finds credentials, region and endpoint (AWS_ENDPOINT_URL) the usual way.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = url.removeprefix("s3://").partition("/")
    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    except (BotoCoreError, ClientError) as error:
        raise OSError(f"cannot read {url}: {error}") from None
    return _closing(body, stream_payloads(body, one_per_frame, max_frame_bytes))


def _closing(stream, payloads):
    try:
        yield from payloads
    finally:
        stream.close()


def synthetic_payloads(rows: int, seed: int, one_per_frame: bool):
    yield from synthetic.chunks(rows, seed, 1 if one_per_frame else FRAME_ROWS)


def run(
    to: tuple[str, int],
    payloads,
    connect_timeout: float = 60,
    tls: Tls | None = None,
    one_record_per_frame: bool = False,
) -> int:
    """Send every payload, then the end frame with the tally; return once the source answers
    END, which it does when it has taken every frame and found the tally right: a sender the
    source refused, or that stopped reading, fails."""
    sock = framing.connect(to, connect_timeout, tls.client_context() if tls else None)
    log.info("connected to the source at %s:%d%s", *to, " over TLS" if tls else "")
    started = time.monotonic()
    frames = sent = sent_records = 0
    digest = hashlib.sha256()
    answer, problem = None, "it closed the connection"
    try:
        with sock, sock.makefile("wb", buffering=SEND_BUFFER_BYTES) as stream:
            for payload in payloads:
                stream.write(framing.LENGTH.pack(len(payload)))
                stream.write(payload)
                digest.update(payload)
                frames += 1
                sent += len(payload)
                sent_records += 1 if one_record_per_frame else records.count_whole(payload)
            stream.write(
                framing.encode(framing.end_of_input(sent_records, sent, digest.hexdigest()))
            )
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
