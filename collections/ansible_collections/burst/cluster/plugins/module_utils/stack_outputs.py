"""The stack outputs contract: what every provider writes and the inventory plugin reads.

    {"cluster": NAME, "provider": one of providers.names(),
     "ssh_user": str | None, "ssh_key": str | None,
     "dashboard_url": str | None, "alarm_topic": str | None,
     "hosts": [{"name", "role", "instance_id", "private_ip", "public_dns", "workdir"}, ...]}

``role`` is ``initializer`` (scheduler, source and workers), ``worker`` or
``metrics_host`` (sender and receiver). The initializer comes first.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil

from ansible_collections.burst.cluster.plugins.module_utils import providers

ROLES = ("initializer", "worker", "metrics_host")
HOST_KEYS = ("name", "role", "instance_id", "private_ip", "public_dns", "workdir")
TOP_KEYS = ("cluster", "provider", "ssh_user", "ssh_key", "dashboard_url", "alarm_topic", "hosts")
GROUPS = {
    "initializer": ("cluster", "scheduler", "workers"),
    "worker": ("cluster", "workers"),
    "metrics_host": ("cluster", "metrics_host"),
}
FILE_NAME = "stack-outputs.json"
STATE_DIR_ENV = "BURST_STATE_DIR"


def state_root(base_dir: str, root: str | None = None) -> str:
    """Where the state of the clusters whose files are in ``base_dir`` goes: ``root``, else
    $BURST_STATE_DIR, else ``.burst`` beside the files."""
    return os.path.abspath(
        root or os.environ.get(STATE_DIR_ENV) or os.path.join(base_dir, ".burst")
    )


def state_dir(config: dict, root: str | None = None) -> str:
    """The controller's state of the cluster of ``config`` (as the loader returns it): its
    outputs, hosts' directories, known hosts, certificates, lock, plan, keys and logs."""
    return os.path.join(state_root(config["base_dir"], root), config["name"])


def outputs_path(directory: str) -> str:
    return os.path.join(directory, FILE_NAME)


def known_hosts_path(directory: str) -> str:
    """Host keys of the stack's machines, which stack absent removes with the stack."""
    return os.path.join(directory, "known_hosts")


def check(outputs) -> dict:
    """Raise ValueError naming what breaks the contract; return ``outputs``."""
    if not isinstance(outputs, dict):
        raise ValueError("stack outputs must be a mapping")
    missing = [key for key in TOP_KEYS if key not in outputs]
    if missing:
        raise ValueError(f"stack outputs lack {', '.join(missing)}")
    if outputs["provider"] not in providers.names():
        raise ValueError(
            f"stack outputs: provider {outputs['provider']!r} is not one of"
            f" {', '.join(providers.names())}"
        )
    hosts = outputs["hosts"]
    if not isinstance(hosts, list):
        raise ValueError("stack outputs: hosts must be a list")
    for index, host in enumerate(hosts):
        if not isinstance(host, dict):
            raise ValueError(f"stack outputs: hosts[{index}] must be a mapping")
    if not hosts or hosts[0].get("role") != "initializer":
        raise ValueError("stack outputs: the first host must be the initializer")
    for index, host in enumerate(hosts):
        lacking = [key for key in HOST_KEYS if key not in host]
        if lacking:
            raise ValueError(f"stack outputs: hosts[{index}] lacks {', '.join(lacking)}")
        if host["role"] not in ROLES:
            raise ValueError(
                f"stack outputs: hosts[{index}].role {host['role']!r}"
                f" is not one of {', '.join(ROLES)}"
            )
    if sum(host["role"] == "metrics_host" for host in hosts) != 1:
        raise ValueError("stack outputs: there must be exactly one metrics_host")
    return outputs


def read(path: str) -> dict | None:
    """The outputs at ``path``, checked; None when no stack is up."""
    try:
        with open(path, encoding="utf-8") as stream:
            return check(json.load(stream))
    except FileNotFoundError:
        return None


def inventory(outputs: dict, config: dict, directory: str, python: str) -> list[dict]:
    """Every machine of ``outputs`` as the inventory has it: ``name``, ``groups`` and ``vars``
    (its outputs as ``burst_<key>``, the cluster's, what its provider means for the plays, and
    how Ansible reaches it). ``config`` is the cluster's, ``directory`` its state directory;
    ``python`` the controller's Python."""
    provider = providers.get(outputs["provider"])
    cluster = {
        "burst_cluster": outputs["cluster"],
        "burst_provider": outputs["provider"],
        "burst_dashboard_url": outputs.get("dashboard_url"),
        "burst_on_controller": provider.ON_CONTROLLER,
        "burst_machines_torn_down": provider.TORN_DOWN,
        "burst_host_env": provider.env(config),
    }
    # Machines are new each run: trust a host key on first sight, in the state dir only.
    known_hosts = (
        f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={known_hosts_path(directory)}"
    )
    hosts = []
    for host in outputs["hosts"]:
        hostvars = {f"burst_{key}": value for key, value in host.items() if key != "name"}
        if provider.ON_CONTROLLER:
            hostvars.update(ansible_connection="local", ansible_python_interpreter=python)
        else:
            hostvars.update(
                ansible_host=host.get("public_dns") or host.get("private_ip"),
                ansible_ssh_common_args=known_hosts,
                ansible_pipelining=True,
            )
            if outputs.get("ssh_user"):
                hostvars["ansible_user"] = outputs["ssh_user"]
            if outputs.get("ssh_key"):
                hostvars["ansible_ssh_private_key_file"] = outputs["ssh_key"]
        hosts.append(
            {"name": host["name"], "groups": list(GROUPS[host["role"]]), "vars": cluster | hostvars}
        )
    return hosts


def dask_dashboard(outputs: dict, port: int) -> dict:
    """Where to open the run's Dask dashboard (``url``) and, for machines that are not this
    one, the SSH tunnel that reaches it (``tunnel``): it listens on the initializer's private
    address only."""
    initializer = outputs["hosts"][0]
    if providers.get(outputs["provider"]).ON_CONTROLLER:
        return {"url": f"http://{initializer['private_ip']}:{port}/status", "tunnel": None}
    ssh = ["ssh"] + (["-i", outputs["ssh_key"]] if outputs.get("ssh_key") else [])
    user = f"{outputs['ssh_user']}@" if outputs.get("ssh_user") else ""
    ssh += ["-N", "-L", f"{port}:{initializer['private_ip']}:{port}"]
    ssh.append(user + (initializer["public_dns"] or initializer["private_ip"]))
    return {"url": f"http://localhost:{port}/status", "tunnel": shlex.join(ssh)}


def write(path: str, outputs: dict) -> None:
    check(outputs)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as stream:
        json.dump(outputs, stream, indent=2)
    os.replace(partial, path)


def host_plan(config: dict) -> list[tuple[str, str]]:
    """(name, role) of every machine of the cluster, in contract order, for every provider."""
    name = config["name"]
    plan = [(f"{name}-0", "initializer")]
    plan += [(f"{name}-{index}", "worker") for index in range(1, config["size"])]
    return plan + [(f"{name}-metrics", "metrics_host")]


def existing(outputs: dict, directory: str, state: str, check_mode: bool, remove_workdirs: bool):
    """The stack of machines that exist (providers local and static): only ``outputs`` are
    made (``present``) or removed (``absent``), with the hosts' work directories if
    ``remove_workdirs``; the stack module's result."""
    path = outputs_path(directory)
    current = read(path)
    if state == "absent":
        if current and not check_mode:
            for host in current["hosts"] if remove_workdirs else []:
                shutil.rmtree(host["workdir"], ignore_errors=True)
            with contextlib.suppress(OSError):  # not empty: left alone
                os.rmdir(os.path.join(directory, "hosts"))
            for leftover in (path, known_hosts_path(directory)):
                if os.path.exists(leftover):
                    os.remove(leftover)
        return {"changed": current is not None, "outputs": current or {}, "outputs_file": path}
    changed = current != outputs
    if changed and not check_mode:
        write(path, outputs)
    return {"changed": changed, "outputs": outputs, "outputs_file": path}
