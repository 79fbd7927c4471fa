"""The sender: reads the row source and streams it to the source port in frames."""

import logging
import time

from classifier import framing, records, synthetic

log = logging.getLogger("burst.sender")
READ_BYTES = 1024 * 1024
MAX_RECORD_BYTES = 32 * 1024 * 1024
FRAME_ROWS = 500


def file_payloads(path: str, one_per_frame: bool):
    """Whole records from a CSV file, about a read buffer at a time (or one by one).

    A quote that never closes would make the rest of the file one record; past
    MAX_RECORD_BYTES what is held is sent as it is, for the source to reject.
    """
    rest = b""
    with open(path, "rb") as stream:
        while chunk := stream.read(READ_BYTES):
            data = rest + chunk
            end = records.complete_prefix(data) or (len(data) > MAX_RECORD_BYTES and len(data))
            if end:
                yield from records.iter_records(data[:end]) if one_per_frame else (data[:end],)
            rest = data[end:]
    if rest:
        yield rest


def synthetic_payloads(rows: int, seed: int, one_per_frame: bool):
    yield from synthetic.chunks(rows, seed, 1 if one_per_frame else FRAME_ROWS)


def run(to: tuple[str, int], payloads, connect_timeout: float = 60) -> int:
    sock = framing.connect(to, connect_timeout)
    log.info("connected to the source at %s:%d", *to)
    started = time.monotonic()
    frames = sent = 0
    for payload in payloads:
        sock.sendall(framing.encode(payload))
        frames += 1
        sent += len(payload)
    sock.sendall(framing.encode(framing.END))
    sock.close()
    log.info("sent %d frames, %d bytes in %.2f s", frames, sent, time.monotonic() - started)
    return 0
