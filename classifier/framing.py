"""Length-prefixed frames: 4-byte big-endian length, then the payload.

A payload holds one CSV record or many, newline-separated; the first record of a
stream is the header; a payload that is exactly ``END`` ends the input, and so does
burst's own end frame, ``END`` followed by the sender's tally of what it sent. burst's
sender may begin with a frame saying how much input there is (``SIZE``), for the source
to size its last batches.
"""

import json
import socket
import ssl
import struct
import time

LENGTH = struct.Struct(">I")
END = b"\x04"
SIZE = b"\x05"
MAX_FRAME_BYTES = 64 * 1024 * 1024
NO_LIMIT = 2**32 - 1  # what the length prefix can say


class FramingError(ConnectionError):
    """The peer broke the framing: a truncated frame or an oversized length."""


class PeerLost(ConnectionError):
    """The peer refused this process or stopped answering: the effect of a failure there.
    ``python -m classifier`` exits with PEER_LOST_STATUS on it, so the controller can name
    the first cause instead."""


PEER_LOST_STATUS = 3
TALLY = {"records": int, "bytes": int, "sha256": str}
IDENTITY = {"file": str, "s3": str, "etag": str}  # which input it was: path, or URL and ETag


def end_of_input(records: int, size: int, sha256: str, **identity: str) -> bytes:
    """The end frame of burst's sender: END, then what it sent: records (the header
    included), bytes and their SHA-256, for the source to check against what it took,
    and which input they came from (``IDENTITY``)."""
    said = {**identity, "records": records, "bytes": size, "sha256": sha256}
    return END + json.dumps(said).encode()


def tally(payload: bytes) -> dict | None:
    """What an end frame of ``end_of_input`` says, or None if ``payload`` is not one: every
    key of ``TALLY``, any of ``IDENTITY``, nothing else, each of its type."""
    if not payload.startswith(END + b"{"):
        return None
    try:
        said = json.loads(payload[len(END) :])
    except ValueError:
        return None
    known = TALLY | IDENTITY
    if not isinstance(said, dict) or not TALLY.keys() <= said.keys() <= known.keys():
        return None
    return said if all(type(value) is known[key] for key, value in said.items()) else None


def size_frame(**size: int) -> bytes:
    """The frame before the header saying how much input follows: ``bytes`` (the header
    included) or ``records`` (the header included)."""
    return SIZE + json.dumps(size).encode()


def input_size(payload) -> dict | None:
    """What a ``size_frame`` says, or None if ``payload`` is not one."""
    if not isinstance(payload, bytes) or not payload.startswith(SIZE + b"{"):
        return None
    try:
        said = json.loads(payload[len(SIZE) :])
    except ValueError:
        return None
    if not isinstance(said, dict) or len(said) != 1 or not said.keys() <= {"bytes", "records"}:
        return None
    value = next(iter(said.values()))
    return said if type(value) is int and value >= 0 else None


def is_end(payload: bytes) -> bool:
    """Whether ``payload`` ends the input: END alone, or END with the sender's tally."""
    return payload == END or tally(payload) is not None


def encode(payload: bytes) -> bytes:
    return LENGTH.pack(len(payload)) + payload


class LongPayload:
    """A payload too long to hold: its first ``head`` bytes, then the rest a piece at a time,
    which must be read (``pieces``) before the next frame."""

    PIECE_BYTES = 1024 * 1024

    def __init__(self, stream, length: int, head: int):
        self.head = _read_exactly(stream, head, length)
        self._stream, self._left, self._length = stream, length - len(self.head), length

    def pieces(self):
        while self._left:
            piece = _read_exactly(self._stream, min(self._left, self.PIECE_BYTES), self._length)
            self._left -= len(piece)
            yield piece


def _read_exactly(stream, size: int, length: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise FramingError(f"connection closed inside a frame of {length} bytes")
    return data


class FrameReader:
    """Reads frames from a connected socket until the peer closes it."""

    def __init__(self, sock: socket.socket, max_frame_bytes: int = MAX_FRAME_BYTES):
        self._stream = sock.makefile("rb", buffering=1024 * 1024)
        self.max_frame_bytes = max_frame_bytes

    def read(self, hold_at_most: int | None = None, head: int = 0) -> bytes | LongPayload | None:
        """The next payload, or None when the peer closed between frames. A payload over
        ``hold_at_most`` bytes comes as a LongPayload with its first ``head`` bytes."""
        prefix = self._stream.read(LENGTH.size)
        if not prefix:
            return None
        if len(prefix) < LENGTH.size:
            raise FramingError("connection closed inside a frame's length prefix")
        (length,) = LENGTH.unpack(prefix)
        if length > self.max_frame_bytes:
            raise FramingError(
                f"frame of {length} bytes is over the limit of {self.max_frame_bytes}"
            )
        if hold_at_most is not None and length > hold_at_most:
            return LongPayload(self._stream, length, head)
        payload = self._stream.read(length)
        if len(payload) < length:
            raise FramingError(f"connection closed after {len(payload)} of {length} bytes")
        return payload

    def __iter__(self):
        while (payload := self.read()) is not None:
            yield payload

    def close(self) -> None:
        self._stream.close()


def connect(
    address: tuple[str, int], timeout: float, tls: ssl.SSLContext | None = None
) -> socket.socket:
    """Connect to a listener that may not be up yet, retrying until ``timeout``; with a TLS
    context, the handshake follows, and a listener that is not the run's fails at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection(address, timeout=5)
        except OSError as error:
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"cannot connect to {address[0]}:{address[1]} within {timeout:g} s: {error}"
                ) from error
            time.sleep(0.1)
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is None:
            sock.settimeout(None)
            return sock
        try:
            sock = tls.wrap_socket(sock, server_hostname=address[0])
        except (ssl.SSLError, OSError) as error:
            sock.close()
            raise ConnectionError(
                f"TLS handshake with {address[0]}:{address[1]} failed: {error}"
            ) from None
        sock.settimeout(None)
        return sock


def shutdown(sock: socket.socket) -> None:
    """Ends both directions of ``sock`` at the socket level, so that a read blocked in another
    thread returns, even on a TLS socket (whose own shutdown would unwrap it under the read)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def listen(address: tuple[str, int]) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(address)
    server.listen(8)
    return server


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` → ``(host, port)``."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT with a port from 0 to 65535, got {text!r}")
    return host, int(port)
