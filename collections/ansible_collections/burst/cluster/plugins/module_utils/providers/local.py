"""Provider ``local``: every host is this machine; nothing is made, and the hosts' work
directories are in the cluster's state directory."""

from __future__ import annotations

import os

from ansible_collections.burst.cluster.plugins.module_utils import stack_outputs

SECTION = None
ON_CONTROLLER = True
TORN_DOWN = False
CLOUD = False
RUNS_ON = "this machine"


def problems(config: dict, base_dir) -> list[str]:
    return []


def sizes(config: dict) -> range:
    """Up to this machine's cores."""
    return range(1, max(1, (os.cpu_count() or 1) // config["workers_per_host"]) + 1)


def sized_on(config: dict) -> str:
    return "this machine"


def would_take(config: dict, size: int) -> str:
    return f"{size * config['workers_per_host']} workers, more than this machine's cores"


def machines(config: dict) -> str:
    return "this machine"


def env(config: dict) -> dict:
    """The cluster file's directory is on the workers' import path: a classifier beside it
    imports as it does for ``make check``."""
    return {"PYTHONPATH": config["base_dir"]}


def run_cost(config: dict, prices: dict) -> None:
    return None


def outputs(config: dict, directory: str) -> dict:
    name = config["name"]
    hosts = []
    for index, (host, role) in enumerate(stack_outputs.host_plan(config)):
        hosts.append(
            {
                "name": host,
                "role": role,
                "instance_id": f"local-{index}",
                "private_ip": "127.0.0.1",
                "public_dns": "localhost",
                "workdir": os.path.join(directory, "hosts", host),
            }
        )
    dashboard = f"http://127.0.0.1:{config['ports']['dashboard']}/status"
    return {
        "cluster": name,
        "provider": "local",
        "ssh_user": None,
        "ssh_key": None,
        "dashboard_url": dashboard,
        "alarm_topic": None,
        "hosts": hosts,
    }


def stack(config: dict, directory: str, state: str, check_mode: bool, force: bool) -> dict:
    return stack_outputs.existing(
        outputs(config, directory), directory, state, check_mode, remove_workdirs=True
    )
