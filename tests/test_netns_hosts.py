"""The network-namespace hosts: real SSH between them, nothing left after them."""

import ipaddress
import json
import os
import subprocess
from pathlib import Path

import netns_hosts as module
import pytest
from conftest import ansible
from netns_hosts import netns_hosts, netns_hosts_fixture  # noqa: F401 (netns_hosts_factory)

pytestmark = pytest.mark.hosts

PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.command: hostname -I
      register: out
      changed_when: false
    - ansible.builtin.assert:
        that: out.stdout.split() == [ansible_host]
"""


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    with netns_hosts(3, tmp_path_factory.mktemp("hosts")) as hosts:
        yield hosts


def listening(pid) -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket in the network namespace of ``pid``."""
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A":
                host, port = local.split(":")
                raw = bytes.fromhex(host)
                if len(raw) == 4:
                    raw = raw[::-1]  # IPv4 in /proc is one little-endian word
                else:
                    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found.append((str(ipaddress.ip_address(raw)), int(port, 16)))
    return found


def listening_anywhere() -> list[tuple[str, int]]:
    """Listening sockets of every network namespace some process is in."""
    seen, found = set(), []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            namespace = os.stat(f"/proc/{entry}/ns/net").st_ino
            if namespace not in seen:
                found += listening(entry)
                seen.add(namespace)
        except OSError:
            continue
    return found


def alive(pid) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run(*args) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=False).stdout


def assert_removed(hosts, pids):
    assert not set(run("ip", "netns", "list").split()) & set(hosts.namespaces)
    assert hosts.bridge not in run("ip", "-o", "link", "show")
    assert f"10.77.{hosts.subnet}." not in run("ip", "-4", "-o", "addr", "show")
    assert not [pid for pid in pids if alive(pid)]
    assert not [found for found in listening_anywhere() if found[0] in hosts.addresses]
    assert not hosts.directory.exists()


def test_each_host_has_its_own_address_and_name(three):
    for i, address in enumerate(three.addresses):
        result = three.ssh(i, "hostname; hostname -I; ip -4 -o addr show")
        assert result.returncode == 0, result.stderr
        name, addresses, *interfaces = result.stdout.splitlines()
        assert (name, addresses.split()) == (three.namespaces[i], [address])
        assert [line.split()[3] for line in interfaces] == ["127.0.0.1/8", f"{address}/24"]


def test_hosts_reach_each_other_over_the_bridge(three):
    probe = (
        "import socket, sys; "
        "print(socket.create_connection((sys.argv[1], 22), timeout=5).recv(7).decode())"
    )
    result = three.ssh(0, ["/usr/bin/python3", "-c", probe, three.addresses[2]])
    assert (result.returncode, result.stdout.strip()) == (0, "SSH-2.0"), result.stderr


def test_ansible_pings_every_host_over_ssh(three, tmp_path):
    result = ansible(
        "ansible",
        "all",
        "-i",
        ",".join(three.addresses) + ",",
        "-m",
        "ansible.builtin.ping",
        cwd=tmp_path,
        ANSIBLE_PIPELINING="True",  # as the repo's ansible.cfg: one SSH command per task
        **three.ansible_env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(line.split()[0] for line in result.stdout.splitlines() if "SUCCESS" in line) == (
        sorted(three.addresses)
    )


def test_ansible_playbook_with_inventory_variables(three, tmp_path):
    hosts = {f"host{i}": {"ansible_host": address} for i, address in enumerate(three.addresses)}
    inventory = {"all": {"hosts": hosts, "vars": three.ansible_vars}}
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))  # JSON is YAML
    (tmp_path / "play.yml").write_text(PLAY)
    result = ansible(
        "ansible-playbook", "-i", "hosts.yml", "play.yml", cwd=tmp_path, ANSIBLE_PIPELINING="True"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(f"host{i}" in result.stdout for i in range(3))


def test_sshd_listens_only_on_its_host_address(three):
    for pid, address in zip(three.pids(), three.addresses, strict=True):
        assert listening(pid) == [(address, 22)]
    mine = [found for found in listening(os.getpid()) if found[0].startswith("10.77.")]
    assert mine == []


@pytest.mark.parametrize("fails", [False, True], ids=["returns", "raises"])
def test_leaving_removes_everything(tmp_path, fails):
    class Boom(Exception):
        pass

    try:
        with netns_hosts(2, tmp_path) as hosts:
            started = hosts.ssh(1, "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!")
            assert started.returncode == 0, started.stderr
            stray = int(started.stdout)
            assert stray in map(int, run("ip", "netns", "pids", hosts.namespaces[1]).split())
            pids = [*hosts.pids(), stray]
            if fails:
                raise Boom
    except Boom:
        assert fails
    assert_removed(hosts, pids)


@pytest.mark.parametrize(
    ("step", "call", "sshds"),
    [("_keygen", 3, 1), ("_wait_ready", 1, 2)],
    ids=["host 1 half made", "sshd not ready"],
)
def test_a_half_made_setup_is_removed(tmp_path, monkeypatch, step, call, sshds):
    calls, torn_down = [], []
    real_step, real_tear_down = getattr(module, step), module._tear_down

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == call:
            raise RuntimeError("setup broke")
        return real_step(*args, **kwargs)

    def tear_down(hosts):
        torn_down.append(hosts)
        real_tear_down(hosts)

    monkeypatch.setattr(module, step, failing)
    monkeypatch.setattr(module, "_tear_down", tear_down)
    with pytest.raises(RuntimeError, match="setup broke"):
        with netns_hosts(2, tmp_path):
            pytest.fail("the body runs only when every host is up")
    (hosts,) = torn_down
    assert len(hosts.pids()) == sshds
    assert_removed(hosts, hosts.pids())


def test_skips_saying_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(module, "SSHD", "/nonexistent/sshd")
    with pytest.raises(pytest.skip.Exception, match="/nonexistent/sshd.*installs openssh-server"):
        with netns_hosts(1, tmp_path):
            pass


def test_factory_fixture(netns_hosts_factory):
    first, second = netns_hosts_factory(1), netns_hosts_factory(1)
    assert first.subnet != second.subnet
    result = first.ssh(0, ["cat", second.known_hosts])  # one file system for every host
    assert result.stdout.startswith(second.addresses[0]), result.stderr
