"""What every test shares: where the repo and its tools are, and how to find leftovers."""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


# The seed's black box exactly as its users wrote it (``fancy_ml_black_box.py``): row-wise
# apply, the frame changed and returned; in Python 3, str(row) is encoded for the hash.
SEED_STYLE = """
import hashlib
import random

CLASSIFIER_SLOWNESS = 10


def classify_df(df):
    df['CLASSIFICATION'] = df.apply(_classify_row, axis=1)
    return df


def _classify_row(row):
    h = hashlib.sha256()
    for _ in range(CLASSIFIER_SLOWNESS):
        h.update(str(row).encode())
    random.seed(repr(row))
    return random.uniform(0.0, 1.0)
"""


def pytest_configure(config):
    """A test run stopped by SIGTERM or SIGHUP (``kill``, ``timeout``, a closed terminal) tears
    down its fixtures, as on Ctrl-C, so the clusters and hosts they started, each in a
    session of its own, stop with it. A signal ignored (``nohup``) stays ignored."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _interrupted)


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def ansible_env(**extra) -> dict[str, str]:
    """This environment without the caller's Ansible or burst settings, plus ``extra``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "BURST_"))}
    return {**clean, "ANSIBLE_NOCOLOR": "1", **{k: str(v) for k, v in extra.items()}}


def ansible(tool: str, *args, cwd, timeout: float = 120, **env) -> subprocess.CompletedProcess:
    """Run one of the venv's Ansible commands with ``ansible_env(**env)``."""
    return subprocess.run(
        [str(BIN / tool), *map(str, args)],
        cwd=cwd,
        env=ansible_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


_HANDED_OUT: set[int] = set()


def free_ports(count: int) -> list[int]:
    """``count`` ports free on loopback, none handed out before in this session.

    They come from below the kernel's ephemeral range: a port from it, free when asked, can be
    given to any process that binds port 0 or connects out (another cluster's workers) before
    the run that was meant to have it starts."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32768
    candidates = [port for port in range(max(1024, low - 12000), low) if port not in _HANDED_OUT]
    ports = []
    for port in random.sample(candidates, len(candidates)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        _HANDED_OUT.add(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"fewer than {count} free ports below {low}")


def cluster_file(directory, file_name="cluster.yaml", **overrides):
    """Write a small provider-local cluster file on free ports; ``overrides`` change it."""
    scheduler, dashboard, source, receiver = free_ports(4)
    config = {
        "name": "e2e",
        "provider": "local",
        "size": 2,
        "workers_per_host": 1,
        "ports": {
            "scheduler": scheduler,
            "dashboard": dashboard,
            "source": source,
            "receiver": receiver,
        },
        "source": {"kind": "synthetic", "rows": 3000, "seed": 11},
        "job": {"slowness": 100, "batch_rows": 100, "timeout": 300},
        "results": {"dir": "output"},
    }
    for key, value in overrides.items():  # a source is replaced whole, other sections merged
        merge = isinstance(value, dict) and key in config and key != "source"
        config[key] = {**config[key], **value} if merge else value
    path = directory / file_name
    path.write_text(yaml.safe_dump(config))
    return path


def processes_with_env(marker: str) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose environment contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if marker.encode() in environ:
            found.append((int(entry), cmdline.decode(errors="replace")))
    return found


def makefile_ready(tree, venv) -> str:
    """The stamp the Makefile's $(READY) names in ``tree`` for ``venv``: ``make -o`` it to
    run a target with that environment as it is."""
    printed = subprocess.run(
        ["make", "-s", f"VENV={venv}", "--eval=print-ready: ; @echo $(READY)", "print-ready"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return printed.stdout.strip()


def copy_sources(target: Path) -> Path:
    """What the app is built from (the install role reads it), in a copy tests may change."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md", "constraints.txt"):
        shutil.copy2(REPO / name, target / name)
    shutil.copytree(
        REPO / "classifier", target / "classifier", ignore=shutil.ignore_patterns("__pycache__")
    )
    return target


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    """A state directory of the test's own, so its runs are told apart by environment."""
    path = tmp_path / "state"
    monkeypatch.setenv("BURST_STATE_DIR", str(path))
    return path


def open_listeners(marker: str) -> list[tuple[int, str]]:
    """(pid, address) of listening TCP sockets, not bound to loopback, of marked processes."""
    inodes = {}
    for pid, _ in processes_with_env(marker):
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, state, inode = fields[1], fields[3], fields[9]
            host = address.rsplit(":", 1)[0]
            loopback = host in ("0100007F", "00000000000000000000000001000000")
            if state == "0A" and inode in inodes and not loopback:
                found.append((inodes[inode], address))
    return found


@pytest.fixture
def s3(monkeypatch):
    """moto's S3 server on loopback; this process and its children reach it through the env.

    Yields a boto3 S3 client. AWS_* settings of the caller are replaced, never used.
    """
    import boto3
    from moto.server import ThreadedMotoServer

    (port,) = free_ports(1)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # Every server in this process shares moto's backends: start from no bucket at all.
    urllib.request.urlopen(
        urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"),
        timeout=10,
    ).close()
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    settings = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    try:
        yield boto3.client("s3")
    finally:
        server.stop()
