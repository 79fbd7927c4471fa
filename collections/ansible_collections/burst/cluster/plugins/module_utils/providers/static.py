"""Provider ``static``: machines that already exist, reached over SSH; nothing is made."""

from __future__ import annotations

from ansible_collections.burst.cluster.plugins.module_utils import stack_outputs
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    _existing_file,
    largest_size,
)

SECTION = "static"
ON_CONTROLLER = False
TORN_DOWN = False
CLOUD = False
RUNS_ON = "machines you have"


def problems(config: dict, base_dir) -> list[str]:
    static, size = config["static"], config.get("size")
    found = []
    hosts = static.get("hosts")
    if isinstance(hosts, list) and hosts and type(size) is int and len(hosts) < size:
        found.append(
            f"static.hosts: {len(hosts)} host(s) — must list at least size ({size}) machines"
        )
    return found + _existing_file(static, "ssh_key", "static", base_dir)


def sizes(config: dict) -> range:
    """Up to the hosts listed."""
    return range(1, min(largest_size(), len(config["static"]["hosts"])) + 1)


def sized_on(config: dict) -> str:
    return "static host"


def would_take(config: dict, size: int) -> str:
    return f"{size} static hosts × {config['workers_per_host']} worker(s)"


def machines(config: dict) -> str:
    return "static hosts"


def env(config: dict) -> dict:
    return {}


def run_cost(config: dict, prices: dict) -> None:
    return None


def outputs(config: dict, directory: str | None = None) -> dict:
    """The listed machines, in the order they are listed.

    When no machine is left for the metrics host, the initializer is it too: one machine
    under two host names, each with its own work directory.
    """
    name, settings, size = config["name"], config["static"], config["size"]
    addresses = settings["hosts"][: size + 1]
    addresses += addresses[:1] * (size + 1 - len(addresses))
    hosts = [
        {
            "name": host,
            "role": role,
            "instance_id": f"static-{index}",
            "private_ip": address,
            "public_dns": address,
            "workdir": f"{settings['workdir'].rstrip('/')}/{name}/{host}",
        }
        for index, ((host, role), address) in enumerate(
            zip(stack_outputs.host_plan(config), addresses, strict=True)
        )
    ]
    return {
        "cluster": name,
        "provider": "static",
        "ssh_user": settings["user"],
        "ssh_key": settings["ssh_key"],
        "dashboard_url": f"http://{addresses[0]}:{config['ports']['dashboard']}/status",
        "alarm_topic": None,
        "hosts": hosts,
    }


def stack(config: dict, directory: str, state: str, check_mode: bool, force: bool) -> dict:
    return stack_outputs.existing(
        outputs(config), directory, state, check_mode, remove_workdirs=False
    )
