"""Frames on a real socket pair: 4-byte big-endian length, then the payload; END ends the input."""

import json
import random
import socket
import struct
import threading

import pytest

from classifier import framing


@pytest.fixture
def pair():
    left, right = socket.socketpair()
    try:
        yield left, right
    finally:
        left.close()
        right.close()


def _send_then_close(sock: socket.socket, data: bytes) -> threading.Thread:
    """Write ``data`` from a thread (it may exceed the socket buffer), then close the write side."""

    def write():
        try:
            sock.sendall(data)
        finally:
            sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_encode_is_big_endian_length_then_payload():
    payload = b"ID,SKU\n1,a\n"
    assert framing.encode(payload) == len(payload).to_bytes(4, "big") + payload
    assert framing.encode(b"") == b"\x00\x00\x00\x00"
    assert framing.encode(framing.END) == b"\x00\x00\x00\x01\x04"
    assert framing.END == bytes([0x04])


def test_many_payloads_round_trip(pair):
    left, right = pair
    rng = random.Random(1234)
    payloads = [b"", b"\n", framing.END, b"ID,SKU,FLUX\n"]
    payloads += [rng.randbytes(rng.choice([1, 3, 4, 5, 100, 4096, 70_000])) for _ in range(300)]
    payloads.append(rng.randbytes(3 * 1024 * 1024))  # larger than the reader's buffer
    thread = _send_then_close(left, b"".join(framing.encode(p) for p in payloads))
    reader = framing.FrameReader(right)
    try:
        received = list(reader)
    finally:
        reader.close()
        thread.join(10)
    assert len(received) == len(payloads)
    for number, (got, sent) in enumerate(zip(received, payloads, strict=True)):
        assert got == sent, f"payload {number} differs"


def test_empty_payload_is_not_end_of_stream(pair):
    left, right = pair
    thread = _send_then_close(left, framing.encode(b"") + framing.encode(b"x"))
    reader = framing.FrameReader(right)
    assert reader.read() == b""
    assert reader.read() == b"x"
    assert reader.read() is None
    thread.join(10)


def test_end_payload_is_delivered_and_then_eof_gives_none(pair):
    left, right = pair
    thread = _send_then_close(
        left, framing.encode(b"ID\n1\n") + framing.encode(framing.END) + framing.encode(b"2\n")
    )
    reader = framing.FrameReader(right)
    assert reader.read() == b"ID\n1\n"
    assert reader.read() == framing.END
    assert reader.read() == b"2\n"
    assert reader.read() is None
    assert reader.read() is None
    thread.join(10)


def test_eof_between_frames_gives_none(pair):
    left, right = pair
    thread = _send_then_close(left, b"")
    reader = framing.FrameReader(right)
    assert reader.read() is None
    assert list(reader) == []
    thread.join(10)


@pytest.mark.parametrize("kept", [1, 2, 3])
def test_truncated_length_prefix_raises(pair, kept):
    left, right = pair
    thread = _send_then_close(left, framing.encode(b"first") + framing.encode(b"abc")[:kept])
    reader = framing.FrameReader(right)
    assert reader.read() == b"first"
    with pytest.raises(framing.FramingError):
        reader.read()
    thread.join(10)


@pytest.mark.parametrize("kept", [0, 1, 9])
def test_truncated_payload_raises(pair, kept):
    left, right = pair
    thread = _send_then_close(left, struct.pack(">I", 10) + b"0123456789"[:kept])
    reader = framing.FrameReader(right)
    with pytest.raises(framing.FramingError):
        reader.read()
    thread.join(10)


def test_framing_error_is_a_connection_error():
    assert issubclass(framing.FramingError, ConnectionError)


def test_length_over_the_limit_raises_before_reading_the_payload(pair):
    left, right = pair
    # Only the prefix is sent: a reader that tried to read 101 bytes would block, not raise.
    left.sendall(framing.encode(b"x" * 100) + struct.pack(">I", 101))
    reader = framing.FrameReader(right, max_frame_bytes=100)
    right.settimeout(10)
    assert reader.read() == b"x" * 100  # exactly the limit is allowed
    with pytest.raises(framing.FramingError):
        reader.read()


def test_default_limit_rejects_a_huge_length(pair):
    left, right = pair
    left.sendall(struct.pack(">I", 0xFFFFFFFF))
    right.settimeout(10)
    with pytest.raises(framing.FramingError):
        framing.FrameReader(right).read()


def test_frames_over_tcp_on_loopback():
    server = framing.listen(("127.0.0.1", 0))
    try:
        port = server.getsockname()[1]
        payloads = [f"{n},row {n}\n".encode() * n for n in range(200)] + [framing.END]

        def send():
            sock = framing.connect(("127.0.0.1", port), timeout=10)
            with sock:
                for payload in payloads:
                    sock.sendall(framing.encode(payload))

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        server.settimeout(10)
        connection, _ = server.accept()
        with connection:
            assert list(framing.FrameReader(connection)) == payloads
        thread.join(10)
    finally:
        server.close()


def test_connect_gives_up_with_a_connection_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        # bound but not listening: connections are refused
        with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
            framing.connect(("127.0.0.1", port), timeout=0.3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8786", ("127.0.0.1", 8786)),
        ("localhost:0", ("localhost", 0)),
        ("scheduler.internal:65535", ("scheduler.internal", 65535)),
        ("10.77.0.3:7000", ("10.77.0.3", 7000)),
    ],
)
def test_parse_address_good(text, expected):
    assert framing.parse_address(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "localhost", "127.0.0.1", ":8786", "host:", "host:port", "host:-1", "host: 80", "host:8a"],
)
def test_parse_address_bad(text):
    with pytest.raises(ValueError, match="HOST:PORT"):
        framing.parse_address(text)


@pytest.mark.parametrize("text", ["127.0.0.1:65536", "127.0.0.1:99999"])
def test_parse_address_rejects_port_out_of_range(text):
    """BUG: ports above 65535 pass; the failure only comes later, from bind() or connect()."""
    with pytest.raises(ValueError):
        framing.parse_address(text)


SHA = "ab" * 32


@pytest.mark.parametrize(
    "identity",
    [{}, {"file": "/data/rows.csv"}, {"s3": "s3://rows/in.csv", "etag": "9b2cf535f27731c9"}],
    ids=["none", "file", "s3"],
)
def test_the_end_frame_carries_the_tally_and_the_inputs_identity(identity):
    frame = framing.end_of_input(41, 1234, SHA, **identity)
    assert frame.startswith(framing.END)
    assert framing.tally(frame) == {"records": 41, "bytes": 1234, "sha256": SHA, **identity}
    assert framing.is_end(frame)


def test_a_tally_without_an_identity_is_still_read():
    """A sender from before the identity was tallied."""
    frame = framing.END + b'{"records": 2, "bytes": 10, "sha256": "%s"}' % SHA.encode()
    assert framing.tally(frame) == {"records": 2, "bytes": 10, "sha256": SHA}


@pytest.mark.parametrize(
    "said",
    [
        {"bytes": 10, "sha256": SHA},  # a required key missing
        {"records": 2, "bytes": 10, "sha256": SHA, "rows": 2},  # a key it does not know
        {"records": 2, "bytes": "10", "sha256": SHA},
        {"records": True, "bytes": 10, "sha256": SHA},
        {"records": 2, "bytes": 10, "sha256": None},
        {"records": 2, "bytes": 10, "sha256": SHA, "file": 7},
        {"records": 2, "bytes": 10, "sha256": SHA, "s3": ["s3://a/b"]},
        {"records": 2, "bytes": 10, "sha256": SHA, "etag": None},
        [2, 10, SHA],
    ],
    ids=[
        "no-records",
        "unknown-key",
        "bytes-text",
        "records-bool",
        "sha256-null",
        "file-number",
        "s3-list",
        "etag-null",
        "a-list",
    ],
)
def test_anything_else_after_end_is_no_tally(said):
    frame = framing.END + json.dumps(said).encode()
    assert framing.tally(frame) is None
    assert not framing.is_end(frame)


@pytest.mark.parametrize("size", [{"bytes": 0}, {"bytes": 90_000_000}, {"records": 20_001}])
def test_the_size_frame_says_how_much_input_follows(size):
    frame = framing.size_frame(**size)
    assert framing.input_size(frame) == size
    assert not framing.is_end(frame)


@pytest.mark.parametrize(
    "payload",
    [
        framing.SIZE + b'{"bytes": -1}',
        framing.SIZE + b'{"bytes": true}',
        framing.SIZE + b'{"bytes": 1.5}',
        framing.SIZE + b'{"bytes": 1, "records": 1}',
        framing.SIZE + b'{"rows": 1}',
        framing.SIZE + b"{not json",
        framing.SIZE + b"[1]",
        b'id,text\n{"bytes": 1}',
        framing.END + b'{"bytes": 1}',
    ],
    ids=["negative", "bool", "float", "two-keys", "unknown", "not-json", "list", "csv", "end"],
)
def test_anything_else_is_no_size_frame(payload):
    assert framing.input_size(payload) is None
