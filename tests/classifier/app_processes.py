"""Processes a test starts with ``python -m …``, each in a process group of its own."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ansible_collections.burst.cluster.plugins.module_utils.processes import (
    group_members,
)
from conftest import free_ports


class Processes:
    """Started processes, with a log each in ``logs``, stopped together by ``stop_all``."""

    def __init__(self, logs: Path, env: dict[str, str], wait: float):
        self.logs = logs
        self.env = env
        self.default_wait = wait
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        """``python -m *args``, its output in ``<logs>/<name>.log``."""
        with open(self.logs / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.logs,
                start_new_session=True,
            )
        self.started.append((name, process))
        return process

    def start_receiver_and_source(
        self, scheduler: str, out: Path, *source_args: str, receiver_args=()
    ):
        """A receiver writing to ``out`` and a source for two workers of ``scheduler`` that
        forwards to it, on free loopback ports; returns (receiver, source, the source's port)."""
        receiver_port, source_port = free_ports(2)
        receive = ["classifier", "receive", "--listen", f"127.0.0.1:{receiver_port}"]
        receiver = self.start("receiver", *receive, "--out", str(out), *receiver_args)
        source = self.start(
            "source",
            *("classifier", "source", "--listen", f"127.0.0.1:{source_port}"),
            *("--scheduler", scheduler, "--sink", f"127.0.0.1:{receiver_port}", "--workers", "2"),
            *source_args,
        )
        return receiver, source, source_port

    def start_cluster(self, workers: list[str], *flags: str) -> str:
        """burst's Dask scheduler and one worker process (with its nanny) per name in
        ``workers``, on 127.0.0.1 with ``flags`` (e.g. TLS); the scheduler's address."""
        scheduler_file = self.logs / "scheduler.json"
        scheduler = self.start(
            "scheduler",
            *("classifier", "scheduler", "--host", "127.0.0.1", "--port", "0"),
            *("--scheduler-file", str(scheduler_file), "--dashboard-address", "127.0.0.1:0"),
            *flags,
        )
        # Port 0 and the scheduler file: a port picked beforehand could be taken meanwhile.
        address, deadline = None, time.monotonic() + self.default_wait
        while address is None and time.monotonic() < deadline:
            if scheduler.poll() is not None:
                pytest.fail(f"the scheduler exited; its log:\n{self.log('scheduler')}")
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        assert address, f"no scheduler address in time:\n{self.log('scheduler')}"
        for name in workers:
            self.start(
                name,
                *("classifier", "worker", address, "--nworkers", "1", "--nthreads", "1"),
                *("--host", "127.0.0.1", "--name", name, "--no-dashboard"),
                *("--dashboard-address", "127.0.0.1:0", "--death-timeout", "60"),
                *("--local-directory", str(self.logs / "worker-space")),
                *flags,
            )
        return address

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def wait(self, name: str, process: subprocess.Popen, timeout: float | None = None) -> int:
        timeout = self.default_wait if timeout is None else timeout
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} still running after {timeout} s; its log:\n{self.log(name)}")

    def stop_all(self) -> None:
        """SIGTERM every group at once; SIGKILL what is left after a grace period."""
        for _, process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, process in self.started:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
            try:  # the leader and what it left in its group (a nanny's worker process)
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait(15)
        deadline = time.monotonic() + 5
        while any(group_members(p.pid) for _, p in self.started) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.started = []
