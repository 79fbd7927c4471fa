"""Provider ``aws``: machines that burst's Pulumi program (cluster_resources) makes for each
run, in the stack named after the cluster, and removes at its end."""

from __future__ import annotations

import ipaddress
import os

from ansible_collections.burst.cluster.plugins.module_utils import stack_outputs
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    SETUP_SECONDS,
    _resolve,
    _show,
    cut,
    largest_size,
    longest_run_seconds,
)

SECTION = "aws"
ON_CONTROLLER = False
TORN_DOWN = True
CLOUD = True
SSH_KEY = True
RUNS_ON = "EC2 machines made for the run"
HOURLY_RUNS_PER_MONTH = 30 * 24


def problems(config: dict, base_dir) -> list[str]:
    aws, job = config["aws"], config.get("job")
    found = []
    cidr = aws.get("ssh_cidr")
    if isinstance(cidr, str) and "/" in cidr:
        try:
            network = ipaddress.ip_network(cidr)
        except ValueError as error:
            reason = cut(str(error))
            found.append(f"aws.ssh_cidr: {_show(cidr)} — must be a CIDR block ({reason})")
        else:
            if network.prefixlen == 0:
                found.append(
                    f"aws.ssh_cidr: {_show(cidr)} — must not be open to the world;"
                    " give your own address, e.g. '203.0.113.7/32'"
                )
    lifetime = aws.get("max_lifetime")
    timeout = job.get("timeout") if isinstance(job, dict) else None
    if type(lifetime) is int and type(timeout) is int and lifetime < timeout + SETUP_SECONDS:
        found.append(
            f"aws.max_lifetime: {lifetime} — must be at least job.timeout ({timeout} s)"
            f" + {SETUP_SECONDS} s for boot and install, or the machines end before the job may"
        )
    state = aws.get("state")
    if isinstance(state, str) and state.startswith("file://") and len(state) > len("file://"):
        aws["state"] = "file://" + _resolve(base_dir, state[len("file://") :])
    return found


def sizes(config: dict) -> range:
    return range(1, largest_size() + 1)


def sized_on(config: dict) -> str:
    return config["aws"]["instance_type"]


def would_take(config: dict, size: int) -> str:
    return f"size {size} of {sized_on(config)} × {config['workers_per_host']} worker(s)"


def machines(config: dict) -> str:
    aws = config.get("aws", {})
    return f"{aws.get('instance_type')} in {aws.get('region')}"


def env(config: dict) -> dict:
    return {"AWS_DEFAULT_REGION": config["aws"]["region"]}


def run_cost(config: dict, prices: dict) -> dict:
    """What a run's machines cost at most, in USD, by the price table ``prices``."""
    aws = config["aws"]
    count = len(stack_outputs.host_plan(config))
    price = prices["regions"].get(aws["region"], {}).get(aws["instance_type"])
    spot = aws["spot"]
    if price is not None and isinstance(spot, dict):
        price = min(price, spot["max_price"])
    cost = {
        "machines": count,
        "instance_type": aws["instance_type"],
        "region": aws["region"],
        "price": price,
        "spot": bool(spot),
        "run_hours": longest_run_seconds(config) / 3600,
        "date": prices["date"],
    }
    if price is not None:
        per_run = count * price * cost["run_hours"]
        cost["per_hour"] = round(count * price, 4)
        cost["per_run"] = round(per_run, 2)
        cost["per_month_hourly"] = round(per_run * HOURLY_RUNS_PER_MONTH, 2)
    return cost


def stack(
    config: dict, directory: str, state: str, check_mode: bool, force: bool, make_ssh_key=None
) -> dict:
    """Pulumi up (check mode: preview) or destroy; ``force`` destroys a kept stack too.
    Before up or preview, ``make_ssh_key`` makes the cluster's key (without it, it must exist)."""
    from ansible_collections.burst.cluster.plugins.module_utils import pulumi_stack

    path = stack_outputs.outputs_path(directory)
    current = stack_outputs.read(path)
    cluster_stack = pulumi_stack.ClusterStack(config, directory)
    result = {"outputs_file": path, "engine_log": cluster_stack.log_path}
    absent = state == "absent"
    if absent and config["aws"]["keep_stack"] and not force:
        return {
            **result,
            "changed": False,
            "outputs": current or {},
            "msg": "aws.keep_stack is set: stack kept",
        }
    try:
        pulumi_stack.preflight(config["aws"]["region"])
        if absent and check_mode:
            return {**result, "changed": current is not None, "outputs": current or {}}
        if absent:
            changes = cluster_stack.destroy()
            for leftover in (path, stack_outputs.known_hosts_path(directory)):
                if os.path.exists(leftover):
                    os.remove(leftover)
            return {
                **result,
                "changed": changes is not None,
                "outputs": current or {},
                "changes": changes or {},
            }
        if make_ssh_key is not None:
            private = pulumi_stack.key_paths(directory, config["name"])[0]
            made = make_ssh_key(private, f"burst-{config['name']}")
            if made.get("failed"):
                raise pulumi_stack.StackError(
                    f"could not make the cluster's SSH key {private}: {made.get('msg')}"
                )
        if check_mode:
            changes = cluster_stack.preview()
            planned = {
                "cluster": config["name"],
                "provider": "aws",
                "hosts": [{"name": n, "role": r} for n, r in stack_outputs.host_plan(config)],
            }
            return {
                **result,
                "changed": any(op != "same" for op in changes),
                "outputs": current or planned,
                "changes": changes,
            }
        outputs, changes = cluster_stack.up()
    except pulumi_stack.StackError as error:
        return {**result, "failed": True, "msg": str(error)}
    try:
        stack_outputs.write(path, outputs)
    except ValueError as error:
        return {
            **result,
            "failed": True,
            "msg": f"the Pulumi program broke the outputs contract: {error}",
        }
    return {
        **result,
        "changed": any(op != "same" for op in changes),
        "outputs": outputs,
        "changes": changes,
    }
