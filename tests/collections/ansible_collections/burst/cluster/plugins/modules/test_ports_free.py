"""burst.cluster.ports_free: real sockets held by this process and by a child."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.burst.cluster.plugins.modules import ports_free
from conftest import free_ports
from module_runner import runner

# Listens on 127.0.0.1 (or argv[2]) at port argv[1], says so, then waits for stdin to close.
LISTENER = r"""
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[2], int(sys.argv[1])))
server.listen()
print("listening", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def run(monkeypatch):
    return runner(monkeypatch, ports_free.main)


@pytest.fixture
def free():
    """Ports no one listens on."""
    return free_ports(3)


@pytest.fixture
def listener():
    """Start a child process listening on a port; it is stopped at the end."""
    children = []

    def start(port: int, address: str = "127.0.0.1") -> subprocess.Popen:
        child = subprocess.Popen(
            [sys.executable, "-c", LISTENER, str(port), address],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        assert child.stdout.readline() == "listening\n"
        return child

    yield start
    for child in children:
        child.communicate()


def comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def test_free_ports_pass(run, free):
    ports = {"ports.scheduler": free[0], "ports.source": str(free[1])}
    result = run(address="127.0.0.1", ports=ports)
    assert not result["failed"] and not result["changed"]
    assert result["taken"] == []
    assert result["msg"] == f"free on 127.0.0.1: ports.scheduler {free[0]}, ports.source {free[1]}"


def test_a_port_another_process_listens_on_is_named_with_its_holder(run, free, listener):
    child = listener(free[1])
    ports = {"ports.scheduler": free[0], "ports.source": free[1], "ports.receiver": free[2]}
    result = run(address="127.0.0.1", ports=ports)
    assert result["failed"]
    name = comm(child.pid)
    assert (
        result["msg"] == f"ports.source {free[1]} on 127.0.0.1 is taken by {name} (pid {child.pid})"
    )
    holder = {"pid": child.pid, "process": name}
    assert result["taken"] == [
        {"name": "ports.source", "port": free[1], "address": "127.0.0.1", **holder}
    ]


def test_every_taken_port_is_named_and_a_wildcard_listener_takes_loopback(run, free, listener):
    first, second = listener(free[0], "0.0.0.0"), listener(free[2])
    ports = {"ports.scheduler": free[0], "ports.source": free[1], "ports.receiver": free[2]}
    result = run(check_mode=True, address="127.0.0.1", ports=ports)
    assert result["failed"]
    assert result["msg"] == (
        f"ports.scheduler {free[0]} on 127.0.0.1 is taken by {comm(first.pid)} (pid {first.pid});"
        f" ports.receiver {free[2]} on 127.0.0.1 is taken by {comm(second.pid)} (pid {second.pid})"
    )


def test_a_port_bound_by_no_listener_is_taken_without_a_holder(run, free):
    with socket.socket() as bound:  # bound, never listening: no process to name
        bound.bind(("127.0.0.1", free[0]))
        result = run(address="127.0.0.1", ports={"ports.dashboard": free[0]})
    assert result["failed"]
    assert result["msg"] == (
        f"ports.dashboard {free[0]} on 127.0.0.1 is taken;"
        " the process holding it could not be found (it may be another user's)"
    )
    assert "pid" not in result["taken"][0]


def test_an_address_not_on_this_host_is_named(run, free):
    result = run(address="10.77.255.254", ports={"ports.scheduler": free[0]})
    assert result["failed"]
    assert result["msg"].startswith(f"ports.scheduler {free[0]} on 10.77.255.254 cannot be used:")
    assert "Cannot assign requested address" in result["msg"]


@pytest.mark.parametrize("port", ["eighty", 0, 70000])
def test_a_port_that_is_not_a_port_number_is_refused(run, port):
    result = run(address="127.0.0.1", ports={"ports.scheduler": port})
    assert result["failed"]
    assert result["msg"].endswith("— must map names to port numbers from 1 to 65535")


def test_this_process_listening_counts_too(run, free):
    with socket.socket() as server:
        server.bind(("127.0.0.1", free[0]))
        server.listen()
        result = run(address="127.0.0.1", ports={"ports.receiver": free[0]})
    assert result["failed"]
    assert result["taken"][0]["pid"] == os.getpid()
