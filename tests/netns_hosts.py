"""Hosts for tests: network namespaces on a bridge, each with an sshd of its own.

    from netns_hosts import netns_hosts

    with netns_hosts(3, tmp_path) as hosts:
        hosts.ssh(0, "hostname -I")

A run takes a free <k> in 1..250: the bridge ``bst<k>`` in the root namespace is 10.77.<k>.1/24
and host i is namespace ``bst<k>-<i>`` (also its host name) at 10.77.<k>.<10+i>, with a default
route via the bridge only so that replies route (no NAT, no forwarding out of 10.77/16). Every
sshd listens on its host's address, port 22, and lets root in with the run's key only. The hosts
share this machine's file system, users and programs; their network and host name are their own.
Leaving the context stops the sshds and every process left in the namespaces, and removes the
namespaces, the bridge and the key directory, also when the body or the setup failed.
"""

import concurrent.futures
import contextlib
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
# Ansible's interpreter on the hosts: the hosts run this machine's programs, and discovery
# could pick whatever root's shell start-up files put first on PATH.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
SSHD_CONFIG = """\
AddressFamily inet
# curve25519 alone: the default post-quantum exchange costs a slow test machine 0.2 s a login
KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile {directory}/authorized_keys
StrictModes no
UsePAM no
PidFile none
UseDNS no
PrintMotd no
X11Forwarding no
Subsystem sftp internal-sftp
"""


@dataclass
class Hosts:
    subnet: int  # the <k> of 10.77.<k>.0/24
    directory: Path  # keys, known_hosts, sshd_config and sshd logs; removed at the end
    count: int
    user: str = "root"
    processes: list[subprocess.Popen] = field(default_factory=list)

    bridge = property(lambda self: f"bst{self.subnet}")
    gateway = property(lambda self: f"10.77.{self.subnet}.1")
    addresses = property(lambda self: [f"10.77.{self.subnet}.{10 + i}" for i in range(self.count)])
    namespaces = property(lambda self: [f"bst{self.subnet}-{i}" for i in range(self.count)])
    ssh_key = property(lambda self: self.directory / "id_ed25519")
    known_hosts = property(lambda self: self.directory / "known_hosts")

    @property
    def ssh_options(self) -> list[str]:
        """Options for ssh (and Ansible's ssh_common_args): the run's known hosts, strictly."""
        return [
            *("-o", f"UserKnownHostsFile={self.known_hosts}"),
            *("-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes"),
        ]

    @property
    def ansible_vars(self) -> dict[str, str]:
        """Inventory variables that reach every host over SSH."""
        return {
            "ansible_user": self.user,
            "ansible_ssh_private_key_file": str(self.ssh_key),
            "ansible_ssh_common_args": shlex.join(self.ssh_options),
            "ansible_python_interpreter": PYTHON,
        }

    @property
    def ansible_env(self) -> dict[str, str]:
        """The same as environment variables, for an inventory that does not set them."""
        return {
            "ANSIBLE_REMOTE_USER": self.user,
            "ANSIBLE_PRIVATE_KEY_FILE": str(self.ssh_key),
            "ANSIBLE_SSH_COMMON_ARGS": shlex.join(self.ssh_options),
            "ANSIBLE_PYTHON_INTERPRETER": PYTHON,
        }

    def ssh(self, index: int, command, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run ``command`` (a shell string or an argument list) on host ``index`` over SSH."""
        if not isinstance(command, str):
            command = shlex.join(map(str, command))
        return subprocess.run(
            ["ssh", "-F", "/dev/null", "-i", str(self.ssh_key), *self.ssh_options]
            + ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
            + [f"{self.user}@{self.addresses[index]}", command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]


@contextlib.contextmanager
def netns_hosts(count: int, tmp_path):
    """``count`` hosts for the body of the ``with``; skips the test where they cannot be made."""
    _check_tools()
    subnet = _claim_subnet()
    hosts = Hosts(subnet, Path(tmp_path) / f"netns-{subnet}", count)
    try:
        _set_up(hosts)
        yield hosts
    finally:
        _tear_down(hosts)


@pytest.fixture(name="netns_hosts_factory")
def netns_hosts_fixture(tmp_path):
    """``netns_hosts_factory(count)`` -> Hosts, removed when the test ends.

    A test module (or conftest.py) that imports ``netns_hosts_fixture`` has the fixture.
    """
    with contextlib.ExitStack() as stack:
        yield lambda count: stack.enter_context(netns_hosts(count, tmp_path))


def _check_tools():
    needs = {
        "root": os.geteuid() == 0,
        SSHD: os.path.exists(SSHD),
        "ip (iproute2)": shutil.which("ip"),
        "ssh and ssh-keygen": shutil.which("ssh") and shutil.which("ssh-keygen"),
    }
    missing = [name for name, present in needs.items() if not present]
    if missing:
        pytest.skip(
            f"network-namespace SSH hosts need {', '.join(missing)}; "
            "`make test` run as root installs openssh-server"
        )


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def _ip(*args):
    result = _run("ip", *args)
    if result.returncode:
        denied = "not permitted" in result.stderr or "denied" in result.stderr
        if denied:
            pytest.skip(
                f"cannot make network namespaces here (ip {' '.join(args)}: "
                f"{result.stderr.strip()}); they need root with CAP_SYS_ADMIN and CAP_NET_ADMIN"
            )
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _claim_subnet() -> int:
    """A <k> no other run uses: creating the bridge is the lock."""
    used = (
        _run("ip", "netns", "list").stdout
        + _run("ip", "-4", "route", "show", "table", "all").stdout
    )
    for k in random.sample(range(1, 251), 250):
        if f"bst{k}-" in used or f"10.77.{k}." in used:
            continue
        result = _run("ip", "link", "add", f"bst{k}", "type", "bridge", "forward_delay", "0")
        if result.returncode == 0:
            return k
        if "exists" not in result.stderr:
            _ip("link", "add", f"bst{k}", "type", "bridge")  # skips or raises with the reason
    raise RuntimeError("no free 10.77.<k>.0/24 for network-namespace hosts")


def _keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return Path(f"{path}.pub").read_text().strip()


def _set_up(hosts: Hosts):
    directory = hosts.directory
    directory.mkdir(mode=0o700)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    (directory / "authorized_keys").write_text(_keygen(hosts.ssh_key) + "\n")
    (directory / "sshd_config").write_text(SSHD_CONFIG.format(directory=directory))
    _ip("addr", "add", f"{hosts.gateway}/24", "dev", hosts.bridge)
    _ip("link", "set", hosts.bridge, "up")
    known = []
    for i, (namespace, address) in enumerate(zip(hosts.namespaces, hosts.addresses, strict=True)):
        _ip("netns", "add", namespace)
        veth = f"{hosts.bridge}h{i}"  # its peer is the host's eth0
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        _ip("link", "set", veth, "master", hosts.bridge, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", namespace, "link", "set", "eth0", "up")
        _ip("-n", namespace, "route", "add", "default", "via", hosts.gateway)
        host_key = directory / f"host{i}_ed25519"
        known.append(f"{address} {_keygen(host_key)}\n")
        with open(directory / f"sshd{i}.log", "wb") as log:
            hosts.processes.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", namespace, "unshare", "--uts"]
                    + ["sh", "-c", 'hostname "$0" && exec "$@"', namespace]
                    + [SSHD, "-D", "-e", "-f", str(directory / "sshd_config")]
                    + ["-h", str(host_key), "-o", f"ListenAddress={address}:22"],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    hosts.known_hosts.write_text("".join(known))
    with concurrent.futures.ThreadPoolExecutor() as pool:
        list(pool.map(lambda i: _wait_ready(hosts, i), range(hosts.count)))


def _wait_ready(hosts: Hosts, index: int, timeout: float = 10):
    address, process = hosts.addresses[index], hosts.processes[index]
    log = hosts.directory / f"sshd{index}.log"
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((address, 22), timeout=1).close()
            break
        except OSError as error:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd on {address}: {error}; log: {log.read_text()}") from None
            time.sleep(0.05)
    result = hosts.ssh(index, "true", timeout=timeout)
    if result.returncode:
        raise RuntimeError(f"ssh root@{address}: {result.stderr}; sshd log: {log.read_text()}")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _signal_all(pids, signum):
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _tear_down(hosts: Hosts):
    """Stop the run's sshds and whatever runs in its namespaces, then remove them; idempotent."""
    for _ in range(3):  # again, in case something forked while it was being stopped
        pids = {pid for pid in hosts.pids() if _alive(pid)}
        for namespace in hosts.namespaces:
            pids.update(int(pid) for pid in _run("ip", "netns", "pids", namespace).stdout.split())
        if not pids:
            break
        _signal_all(pids, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while any(map(_alive, pids)) and time.monotonic() < deadline:
            for process in hosts.processes:
                process.poll()  # reaps the sshds, this process's children
            time.sleep(0.05)
        _signal_all([pid for pid in pids if _alive(pid)], signal.SIGKILL)
    for process in hosts.processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    for i, namespace in enumerate(hosts.namespaces):
        _run("ip", "netns", "delete", namespace)
        _run("ip", "link", "delete", f"{hosts.bridge}h{i}")  # left only by a half-made host
    _run("ip", "link", "delete", hosts.bridge)
    shutil.rmtree(hosts.directory, ignore_errors=True)
    names = _run("ip", "netns", "list").stdout.split()
    left = [name for name in hosts.namespaces if name in names]
    left += [pid for pid in hosts.pids() if _alive(pid)]
    if _run("ip", "link", "show", hosts.bridge).returncode == 0:
        left.append(hosts.bridge)
    if left:
        raise RuntimeError(f"network-namespace hosts left behind: {left}")
