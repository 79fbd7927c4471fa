"""The gate on real sockets on 127.0.0.1: abuse of the port is refused and logged, and never
keeps the real sender out or touches its frames."""

import logging
import os
import socket
import threading
import time
import tracemalloc
from contextlib import suppress

import psutil
import pytest

from classifier import framing
from classifier.gate import Gate

LOG = logging.getLogger("burst.test_gate")
LIMIT = 1024 * 1024
HEADER = b"ID,SKU,QTY"
FRAMES = [HEADER, *(f"{i},sku-{i},{i % 7}".encode() for i in range(1000)), framing.END]
ALREADY = "a sender is already connected"
KINDS = {
    "random": None,
    "over_limit": f"frame of {LIMIT + 1} bytes is over the limit of {LIMIT} (job.max_frame_bytes)",
    "stall_mid_frame": "sent no whole frame within 1 s",
    "idle": "sent no whole frame within 1 s",
    "close_mid_frame": "closed the connection after 50 of 100 bytes of its first frame",
    "close_in_prefix": "closed the connection inside a frame's length prefix",
    "close_at_once": "closed the connection before sending a frame",
    "not_a_sender": "not a sender: b'GET / HTTP/1.1\\r\\n' is not a CSV header",
    "check_raises": "not a sender: check raised ValueError: boom",
}


def check(payload: bytes) -> str | None:
    if payload == b"boom":
        raise ValueError("boom")
    return None if payload.startswith(b"ID,") else f"{payload[:16]!r} is not a CSV header"


@pytest.fixture
def clients():
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


@pytest.fixture
def gates(caplog):
    """Makes gates on 127.0.0.1 port 0; closes them and checks no gate thread is left."""
    caplog.set_level(logging.INFO, logger=LOG.name)
    made: list[Gate] = []

    def make(**options) -> Gate:
        options = {"max_frame_bytes": LIMIT, "first_frame_seconds": 1, **options}
        made.append(Gate(("127.0.0.1", 0), "sender", check, LOG, **options))
        return made[-1]

    yield make
    for gate in made:
        gate.close()
    assert gate_threads() == []


def gate_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("gate-")]


def connect(gate: Gate, clients: list) -> socket.socket:
    sock = socket.create_connection(gate.address, timeout=5)
    clients.append(sock)
    return sock


def name(sock: socket.socket) -> str:
    host, port = sock.getsockname()
    return f"{host}:{port}"


def abuse(kind: str, gate: Gate, clients: list) -> tuple[socket.socket, str]:
    """Connects and misbehaves as ``kind``; returns the socket and the reason the gate gives."""
    sock = connect(gate, clients)
    reason, data, shut = KINDS[kind], b"", kind.startswith("close")
    if kind == "random":
        data = bytes([0x80 | os.urandom(1)[0]]) + os.urandom(64 * 1024 - 1)
        length = int.from_bytes(data[:4], "big")
        reason = f"frame of {length} bytes is over the limit of {LIMIT} (job.max_frame_bytes)"
    elif kind == "over_limit":
        data = framing.LENGTH.pack(LIMIT + 1) + b"x" * 1000
    elif kind in ("stall_mid_frame", "close_mid_frame"):
        data = framing.LENGTH.pack(100) + b"x" * 50
    elif kind == "close_in_prefix":
        data = b"\x00\x00"
    elif kind == "not_a_sender":
        data = framing.encode(b"GET / HTTP/1.1\r\n")
    elif kind == "check_raises":
        data = framing.encode(b"boom")
    with suppress(OSError):  # the gate may have reset the connection already
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
    return sock, reason


def assert_closed_by_gate(sock: socket.socket) -> None:
    sock.settimeout(5)
    try:
        while data := sock.recv(65536):
            raise AssertionError(f"the gate sent {data[:32]!r}")
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"the gate left {name(sock)} open") from None


def start_sender(gate: Gate, clients: list, pause: float = 0) -> socket.socket:
    """Connects the real sender and writes FRAMES from a thread (pausing halfway)."""
    sock = connect(gate, clients)
    blobs = [b"".join(map(framing.encode, part)) for part in (FRAMES[:500], FRAMES[500:])]

    def send():
        with suppress(OSError):  # a refused sender sees its connection closed
            sock.sendall(blobs[0])
            time.sleep(pause)
            sock.sendall(blobs[1])

    threading.Thread(target=send, daemon=True).start()
    return sock


def assert_takes(gate: Gate, sender: socket.socket, caplog) -> None:
    """take() returns the sender, its header and every later frame intact, in order."""
    address, first, reader = gate.take(timeout=5)
    assert address == sender.getsockname()
    assert first == HEADER
    frames = [first]
    while frames[-1] != framing.END:
        frames.append(reader.read())
    assert frames == FRAMES
    assert f"sender connected from {name(sender)}" in infos(caplog)
    assert refusals(caplog, sender) == []


def infos(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in list(caplog.records) if r.levelno == logging.WARNING]


def refusals(caplog, sock: socket.socket) -> list[str]:
    prefix = f"refused a connection from {name(sock)}: "
    return [line.removeprefix(prefix) for line in warnings(caplog) if line.startswith(prefix)]


def wait_for(predicate, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("kind", KINDS)
def test_abuse_is_refused_and_the_sender_is_taken_in_the_middle_of_it(kind, gates, clients, caplog):
    gate = gates()
    rogue, reason = abuse(kind, gate, clients)
    wait_for(lambda: refusals(caplog, rogue))
    assert warnings(caplog) == [f"refused a connection from {name(rogue)}: {reason}"]
    assert_closed_by_gate(rogue)

    before = [abuse(kind, gate, clients) for _ in range(3)]
    sender = start_sender(gate, clients)
    after = [abuse(kind, gate, clients) for _ in range(3)]
    assert_takes(gate, sender, caplog)
    for sock, reason in before + after:
        assert_closed_by_gate(sock)
        wait_for(lambda sock=sock: refusals(caplog, sock))
        assert refusals(caplog, sock) in ([reason], [ALREADY])
    assert len(warnings(caplog)) == 7


def test_a_stalled_first_frame_is_cut_at_the_total_deadline(gates, clients, caplog):
    gate = gates()
    rogue = connect(gate, clients)
    started = time.monotonic()
    rogue.sendall(framing.LENGTH.pack(100))
    while not refusals(caplog, rogue) and time.monotonic() < started + 5:
        with suppress(OSError):
            rogue.sendall(b"x")
        time.sleep(0.2)  # each byte is well within the deadline; only the total is not
    assert 0.9 <= time.monotonic() - started < 1.6
    assert refusals(caplog, rogue) == ["sent no whole frame within 1 s"]
    assert_closed_by_gate(rogue)


@pytest.mark.parametrize("sender_first", [True, False], ids=["sender_first", "sender_last"])
def test_take_with_the_sender_before_or_after_rogues(sender_first, gates, clients, caplog):
    gate = gates(first_frame_seconds=30)  # a waiting rogue is refused at the take, not later
    sender = start_sender(gate, clients) if sender_first else None
    if sender_first:
        gate.take(timeout=5)
    rogues = [abuse(kind, gate, clients) for kind in ("random", "idle", "not_a_sender")]
    if not sender_first:
        for sock, _ in rogues[::2]:
            wait_for(lambda sock=sock: refusals(caplog, sock))
        sender = start_sender(gate, clients)
    assert_takes(gate, sender, caplog)
    for sock, reason in rogues:
        assert_closed_by_gate(sock)
        wait_for(lambda sock=sock: refusals(caplog, sock))
        expected = [ALREADY] if sender_first or sock is rogues[1][0] else [reason]
        assert refusals(caplog, sock) == expected


def test_a_second_sender_is_refused_and_a_pausing_sender_is_not(gates, clients, caplog):
    gate = gates()
    sender = start_sender(gate, clients, pause=1.3)
    gate.take(timeout=5)
    assert gate.connection.gettimeout() is None
    second = start_sender(gate, clients)
    assert_closed_by_gate(second)
    assert refusals(caplog, second) == [ALREADY]
    assert_takes(gate, sender, caplog)


def test_fifty_connections_at_once_while_the_sender_connects(gates, clients, caplog):
    gate = gates(max_waiting=64)
    kinds = ["idle", "random", "not_a_sender", "stall_mid_frame", "over_limit"] * 10
    rogues = [abuse(kind, gate, clients) for kind in kinds[:25]]
    sender = start_sender(gate, clients)
    rogues += [abuse(kind, gate, clients) for kind in kinds[25:]]
    assert_takes(gate, sender, caplog)
    for sock, reason in rogues:
        assert_closed_by_gate(sock)
        wait_for(lambda sock=sock: refusals(caplog, sock))
        assert refusals(caplog, sock) in ([reason], [ALREADY])
    assert len(warnings(caplog)) == 50


def test_waiting_connections_and_memory_are_bounded(gates, clients, caplog):
    limit, sent = 256 * 1024, b"x" * 200 * 1024
    gate = gates(max_waiting=8, max_frame_bytes=limit, first_frame_seconds=3)
    tracemalloc.start()
    try:
        rogues = []
        for _ in range(50):
            rogues.append(connect(gate, clients))
            with suppress(OSError):
                rogues[-1].sendall(framing.LENGTH.pack(limit) + sent)
        for sock in rogues[8:]:
            assert_closed_by_gate(sock)
            wait_for(lambda sock=sock: refusals(caplog, sock))
            assert refusals(caplog, sock) == ["too many connections waiting (8)"]
        wait_for(lambda: gate.peak_waiting == 8)
        closed = f"closed the connection after {len(sent)} of {limit} bytes of its first frame"
        for sock in rogues[:8]:
            sock.shutdown(socket.SHUT_WR)
            assert_closed_by_gate(sock)
            wait_for(lambda sock=sock: refusals(caplog, sock))
            assert refusals(caplog, sock) == [closed]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert gate.peak_waiting == 8
    assert peak < 8 * 2 * limit + 1024 * 1024 < 50 * len(sent)
    assert_takes(gate, start_sender(gate, clients), caplog)


@pytest.mark.parametrize("state", ["waiting", "taken"])
def test_close_ends_every_thread_and_closes_every_socket(state, gates, clients, caplog):
    process = psutil.Process()
    fds = process.num_fds()
    gate = gates(first_frame_seconds=30)
    if state == "waiting":
        peers = [connect(gate, clients) for _ in range(3)]
        peers.append(abuse("stall_mid_frame", gate, clients)[0])
        wait_for(lambda: len(gate_threads()) == 5)
    else:
        peers = [connect(gate, clients)]
        peers[0].sendall(framing.encode(HEADER))
        reader = gate.take(timeout=5)[2]
        outcome = []
        blocked = threading.Thread(target=lambda: outcome.append(reader.read()), daemon=True)
        blocked.start()
    closer = threading.Thread(target=gate.close, daemon=True)
    closer.start()
    closer.join(timeout=1)
    assert not closer.is_alive(), "close() did not return within 1 s"
    if state == "taken":
        blocked.join(timeout=1)
        assert outcome == [None]
    assert gate_threads() == []
    port = gate.address[1]
    assert [c for c in process.net_connections("tcp") if c.laddr and c.laddr.port == port] == []
    for sock in peers:
        assert_closed_by_gate(sock)
    for sock in clients:
        sock.close()
    assert process.num_fds() == fds
    assert warnings(caplog) == []
    gate.close()


def test_take_times_out_and_fails_once_closed(gates):
    gate = gates()
    with pytest.raises(TimeoutError, match="no sender connected within 0.2 s"):
        gate.take(timeout=0.2)
    threading.Timer(0.2, gate.close).start()
    with pytest.raises(ConnectionError, match="the gate closed before a sender connected"):
        gate.take()


def test_a_preamble_is_kept_apart_from_the_first_frame_it_comes_before(gates, clients, caplog):
    """A sender whose preamble is followed by nothing is refused; the next sender's preamble
    and header are taken, each as what it is."""
    preamble = framing.size_frame(bytes=123)
    gate = gates(preamble=lambda payload: framing.input_size(payload) is not None)
    quitter = connect(gate, clients)
    quitter.sendall(framing.encode(preamble))
    quitter.shutdown(socket.SHUT_WR)
    assert_closed_by_gate(quitter)
    sender = connect(gate, clients)
    sender.sendall(b"".join(map(framing.encode, [preamble, *FRAMES])))
    address, first, reader = gate.take(timeout=5)
    assert (address, first, gate.preamble) == (sender.getsockname(), HEADER, preamble)
    assert reader.read() == FRAMES[1]
    assert "closed the connection before sending a frame" in caplog.text
