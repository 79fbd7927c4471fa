"""Abuse of the source's and the receiver's ports while a real job runs.

Random bytes, a length above job.max_frame_bytes, a connection that stalls mid-frame, a
second sender mid-run and many connections at once: each gets a log line and a closed
connection, and the job's results are still the single process's.
"""

import os
import socket
import struct
import time

import pytest
from app_processes import Processes
from conftest import free_ports
from test_pipeline import WAIT, _cli, cluster  # noqa: F401

pytestmark = pytest.mark.slow

LIMIT = 1024 * 1024
ROWS, SLOWNESS = 2000, 10000  # long enough to connect to the ports mid-run


def _connect(port: int) -> socket.socket:
    deadline = time.monotonic() + 60
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _closed_by_peer(sock: socket.socket, within: float = 20) -> bool:
    """True once the other end has closed ``sock`` (a read gives nothing, or a reset)."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _abuse(port: int) -> dict[str, socket.socket]:
    """One connection of each kind of abuse, left open for the gate to close."""
    rogues = {}
    rogues["random bytes"] = _connect(port)
    rogues["random bytes"].sendall(b"\xff\xfe\xfd\xfc" + os.urandom(4096))
    rogues["over the limit"] = _connect(port)
    rogues["over the limit"].sendall(struct.pack(">I", LIMIT + 1) + b"ID,A\n")
    rogues["stalled"] = _connect(port)
    rogues["stalled"].sendall(struct.pack(">I", 1000) + b"ID,SKU\n" * 10)
    return rogues


def _wait_for_line(log, text: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"no {text!r} in {log.name}:\n{log.read_text()}"
        time.sleep(0.05)


def _many(port: int, count: int = 40) -> list[socket.socket]:
    return [_connect(port) for _ in range(count)]


@pytest.mark.parametrize("port_of", ["source", "receiver"])
def test_abuse_of_a_port_leaves_the_running_job_unaffected(cluster, tmp_path, port_of):  # noqa: F811
    input_csv, reference = tmp_path / "input.csv", tmp_path / "reference.csv"
    with open(input_csv, "wb") as stream:
        _cli(cluster, "generate", "--rows", str(ROWS), "--seed", "5", stdout=stream)
    _cli(cluster, "classify", str(input_csv), str(reference), "--slowness", str(SLOWNESS))

    processes = Processes(tmp_path, cluster["env"], WAIT)
    receiver_port, source_port = free_ports(2)
    port = {"source": source_port, "receiver": receiver_port}[port_of]
    out = tmp_path / "out"
    limit = ["--max-frame-bytes", str(LIMIT)]
    listening = [*limit, "--first-frame-timeout", "2"]
    try:
        receiver = processes.start(
            "receiver", "classifier", "receive", "--listen", f"127.0.0.1:{receiver_port}",
            "--out", str(out), *listening,
        )  # fmt: skip
        if port_of == "receiver":
            rogues = _abuse(receiver_port)
            _wait_for_line(tmp_path / "receiver.log", "sent no whole frame within 2 s")
        source = processes.start(
            "source", "classifier", "source", "--listen", f"127.0.0.1:{source_port}",
            "--scheduler", cluster["address"], "--sink", f"127.0.0.1:{receiver_port}",
            "--workers", "2", "--slowness", str(SLOWNESS), "--batch-rows", "50", *listening,
        )  # fmt: skip
        if port_of == "source":
            rogues = _abuse(source_port)
            _wait_for_line(tmp_path / "source.log", "sent no whole frame within 2 s")
        sender = processes.start(
            "sender", "classifier", "send", "--to", f"127.0.0.1:{source_port}",
            "--file", str(input_csv), *limit,
        )  # fmt: skip
        connected = {"source": "sender connected from", "receiver": "source connected from"}
        _wait_for_line(tmp_path / f"{port_of}.log", connected[port_of])
        rogues["second"] = _connect(port)  # mid-run: its peer is already connected
        rogues["second"].sendall(struct.pack(">I", 5) + b"ID,A\n")
        crowd = _many(port)
        if port_of == "source":  # a real sender too: refused at once, it must not end as sent
            second = processes.start(
                "second-sender", "classifier", "send", "--to", f"127.0.0.1:{port}",
                "--file", str(input_csv),
            )  # fmt: skip
            second_code = processes.wait("second-sender", second)
            second_log = processes.log("second-sender")

        closed = {name: _closed_by_peer(sock) for name, sock in rogues.items()}
        crowd_closed = [_closed_by_peer(sock) for sock in crowd]
        codes = [processes.wait(name, p) for name, p in [("sender", sender), ("source", source)]]
        codes.append(processes.wait("receiver", receiver))
        log = (tmp_path / f"{port_of}.log").read_text()
    finally:
        for sock in [*locals().get("rogues", {}).values(), *locals().get("crowd", [])]:
            sock.close()
        processes.stop_all()

    assert codes == [0, 0, 0], log
    if port_of == "source":
        assert second_code == 3  # it lost its peer: an effect, not a cause
        assert "did not confirm that it took every row" in second_log
    assert (out / "results.csv").read_bytes() == reference.read_bytes()
    assert closed == dict.fromkeys(closed, True)
    assert all(crowd_closed)
    peer = "sender" if port_of == "source" else "source"
    for reason in (
        f"frame of 4294901244 bytes is over the limit of {LIMIT} (job.max_frame_bytes)",
        f"frame of {LIMIT + 1} bytes is over the limit of {LIMIT} (job.max_frame_bytes)",
        "sent no whole frame within 2 s",
        f"a {peer} is already connected",
    ):
        assert reason in log, (reason, log)
    assert log.count("refused a connection from") >= 4 + len(crowd)


def test_a_header_that_is_no_header_stops_the_sender_before_the_source_takes_it(cluster, tmp_path):  # noqa: F811
    input_csv = tmp_path / "input.csv"
    input_csv.write_bytes(b"ID,caf\xe9\n1,2\n")
    processes = Processes(tmp_path, cluster["env"], WAIT)
    try:
        _, _, port = processes.start_receiver_and_source(cluster["address"], tmp_path / "out")
        sender = processes.start(
            "sender", "classifier", "send", "--to", f"127.0.0.1:{port}", "--file", str(input_csv)
        )
        code = processes.wait("sender", sender)
        _wait_for_line(tmp_path / "source.log", "refused a connection from")
    finally:
        processes.stop_all()
    assert code == 2
    log = processes.log("sender")
    assert "send: line 1: the header is not UTF-8 (byte 0xe9 at offset 6)" in log
    assert "Traceback" not in processes.log("sender")
