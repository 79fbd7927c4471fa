"""The sender: reads the row source and streams it to the source port in frames."""

import logging
import time

from classifier import framing, records, synthetic

log = logging.getLogger("burst.sender")
READ_BYTES = 1024 * 1024
MAX_RECORD_BYTES = 32 * 1024 * 1024
FRAME_ROWS = 500
SEND_BUFFER_BYTES = 64 * 1024  # small frames go out together; a larger one goes out at once


def stream_payloads(stream, one_per_frame: bool):
    """Whole records from a binary stream of CSV, about a read buffer at a time (or one by one).

    A quote that never closes would make the rest of the stream one record; past
    MAX_RECORD_BYTES what is held is sent as it is, for the source to reject.
    """
    rest = b""
    while chunk := stream.read(READ_BYTES):
        data = rest + chunk
        end = records.complete_prefix(data) or (len(data) > MAX_RECORD_BYTES and len(data))
        if end:
            yield from records.iter_records(data[:end]) if one_per_frame else (data[:end],)
        rest = data[end:]
    if rest:
        yield rest


def file_payloads(path: str, one_per_frame: bool):
    """The CSV file at ``path``, opened at once, so a missing file fails before connecting."""
    stream = open(path, "rb")  # closed by _closing
    return _closing(stream, stream_payloads(stream, one_per_frame))


def s3_payloads(url: str, one_per_frame: bool):
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
    return _closing(body, stream_payloads(body, one_per_frame))


def _closing(stream, payloads):
    try:
        yield from payloads
    finally:
        stream.close()


def synthetic_payloads(rows: int, seed: int, one_per_frame: bool):
    yield from synthetic.chunks(rows, seed, 1 if one_per_frame else FRAME_ROWS)


def run(to: tuple[str, int], payloads, connect_timeout: float = 60) -> int:
    sock = framing.connect(to, connect_timeout)
    log.info("connected to the source at %s:%d", *to)
    started = time.monotonic()
    frames = sent = 0
    with sock, sock.makefile("wb", buffering=SEND_BUFFER_BYTES) as stream:
        for payload in payloads:
            stream.write(framing.LENGTH.pack(len(payload)))
            stream.write(payload)
            frames += 1
            sent += len(payload)
        stream.write(framing.encode(framing.END))
    log.info("sent %d frames, %d bytes in %.2f s", frames, sent, time.monotonic() - started)
    return 0
