"""The burst.cluster.stack_outputs inventory plugin, through the real ansible-inventory CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.burst.cluster.plugins.module_utils import providers, stack_outputs
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    load_cluster_file,
)
from conftest import ansible

REPO = next(p for p in Path(__file__).resolve().parents if (p / "ansible.cfg").is_file())
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def inventory(tmp_path: Path, *args, state_dir: Path | None = None, cluster: Path | None = None):
    """Run ansible-inventory from the repo root with the repo's ansible.cfg, about the cluster
    file ``cluster`` (as site.yml's -e cluster_file)."""
    env = {"BURST_STATE_DIR": state_dir} if state_dir is not None else {}
    if cluster is not None:
        args = ("-e", f"cluster_file={cluster}", *args)
    return ansible(
        "ansible-inventory",
        *args,
        cwd=REPO,
        timeout=60,
        ANSIBLE_CONFIG=REPO / "ansible.cfg",
        ANSIBLE_LOCAL_TEMP=tmp_path / "ansible-tmp",
        **env,
    )


def plain(value):
    """The --list JSON without ansible-core 2.19's ``__ansible_unsafe`` wrappers."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return plain(value["__ansible_unsafe"])
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def listed(tmp_path: Path, *args, state_dir: Path | None = None, cluster: Path | None = None):
    done = inventory(tmp_path, "--list", *args, state_dir=state_dir, cluster=cluster)
    assert done.returncode == 0, done.stderr
    return plain(json.loads(done.stdout))


def hosts_of(data: dict, group: str) -> list[str]:
    return sorted(data.get(group, {}).get("hosts", []))


def write_cluster(directory: Path, name: str, **fields) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **fields}), encoding="utf-8")
    return path


def write_outputs(state_dir: Path, outputs: dict) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / stack_outputs.FILE_NAME
    path.write_text(json.dumps(outputs), encoding="utf-8")
    return path


def bring_up(path: Path, root: Path | None = None) -> Path:
    """Write the local outputs of cluster file ``path`` where burst.cluster.stack would;
    return the cluster's state directory."""
    config = load_cluster_file(path)
    state_dir = stack_outputs.state_dir(config, root and str(root))
    stack_outputs.write(
        stack_outputs.outputs_path(state_dir), providers.get("local").outputs(config, state_dir)
    )
    return Path(state_dir)


@pytest.fixture
def inv(tmp_path):
    """The cluster file of a local cluster of size 3."""
    return write_cluster(tmp_path, "inv", provider="local", size=3)


@pytest.fixture
def local_state(tmp_path, inv):
    """The state dir (under $BURST_STATE_DIR tmp_path/state) holding the outputs of ``inv``."""
    return bring_up(inv, tmp_path / "state")


@pytest.fixture
def fixed(tmp_path):
    """The cluster file whose state dir (under tmp_path/state) holds hand-written outputs."""
    return write_cluster(tmp_path, "fixed")


def static_outputs(key: str) -> dict:
    def host(name, role, index, dns):
        return {
            "name": name,
            "role": role,
            "instance_id": f"static-{index}",
            "private_ip": f"10.77.0.{10 + index}",
            "public_dns": dns,
            "workdir": "/srv/burst",
        }

    return {
        "cluster": "fixed",
        "provider": "static",
        "ssh_user": "ubuntu",
        "ssh_key": key,
        "dashboard_url": None,
        "alarm_topic": None,
        "hosts": [
            host("head", "initializer", 0, "head.burst.test"),
            host("node-1", "worker", 1, None),
            host("stats", "metrics_host", 2, ""),
        ],
    }


def test_no_outputs_file_is_an_empty_inventory(tmp_path, inv):
    data = listed(tmp_path, state_dir=tmp_path / "nothing-here", cluster=inv)
    assert data["_meta"]["hostvars"] == {}
    assert data["all"]["children"] == ["ungrouped"]
    graph = inventory(tmp_path, "--graph", state_dir=tmp_path / "nothing-here", cluster=inv)
    assert graph.returncode == 0, graph.stderr
    assert "@scheduler" not in graph.stdout


def test_local_outputs_make_the_groups_and_hostvars(tmp_path, inv, local_state):
    assert local_state == tmp_path / "state" / "inv"
    data = listed(tmp_path, state_dir=tmp_path / "state", cluster=inv)
    assert hosts_of(data, "scheduler") == ["inv-0"]
    assert hosts_of(data, "workers") == ["inv-0", "inv-1", "inv-2"]
    assert hosts_of(data, "metrics_host") == ["inv-metrics"]
    assert hosts_of(data, "cluster") == ["inv-0", "inv-1", "inv-2", "inv-metrics"]

    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == ["inv-0", "inv-1", "inv-2", "inv-metrics"]
    assert hostvars["inv-0"]["burst_role"] == "initializer"
    assert hostvars["inv-1"]["burst_role"] == "worker"
    assert hostvars["inv-metrics"]["burst_role"] == "metrics_host"
    for name, hv in hostvars.items():
        assert hv["burst_private_ip"] == "127.0.0.1"
        assert hv["burst_workdir"] == str(local_state / "hosts" / name)
        assert hv["ansible_connection"] == "local"
        assert Path(hv["ansible_python_interpreter"]).parent == BIN
        assert hv["burst_cluster"] == "inv"
        assert hv["burst_provider"] == "local"
        assert "ansible_host" not in hv

    graph = inventory(tmp_path, "--graph", state_dir=tmp_path / "state", cluster=inv)
    assert graph.returncode == 0, graph.stderr
    lines = [line.strip(" |-") for line in graph.stdout.splitlines()]
    scheduler_at = lines.index("@scheduler:")
    assert lines[scheduler_at + 1] == "inv-0"
    assert lines[scheduler_at + 2].startswith("@")
    assert "@workers:" in lines and "@metrics_host:" in lines and "@cluster:" in lines


def test_static_outputs_reach_hosts_over_ssh(tmp_path, fixed):
    state_dir = tmp_path / "state" / "fixed"
    key = str(tmp_path / "keys" / "id_burst")
    write_outputs(state_dir, static_outputs(key))
    data = listed(tmp_path, state_dir=tmp_path / "state", cluster=fixed)
    hostvars = data["_meta"]["hostvars"]
    assert hosts_of(data, "scheduler") == ["head"]
    assert hosts_of(data, "workers") == ["head", "node-1"]
    assert hosts_of(data, "metrics_host") == ["stats"]
    assert hostvars["head"]["ansible_host"] == "head.burst.test"
    assert hostvars["node-1"]["ansible_host"] == "10.77.0.11"  # no public DNS: private IP
    assert hostvars["stats"]["ansible_host"] == "10.77.0.12"
    for hv in hostvars.values():
        assert hv["ansible_user"] == "ubuntu"
        assert hv["ansible_ssh_private_key_file"] == key
        assert "ansible_connection" not in hv
        assert "ansible_python_interpreter" not in hv
        assert hv["burst_provider"] == "static"
        assert hv["ansible_ssh_common_args"] == (
            f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={state_dir / 'known_hosts'}"
        )


def test_static_outputs_without_user_or_key_set_neither(tmp_path, fixed):
    outputs = static_outputs(None)
    outputs["ssh_user"] = None
    write_outputs(tmp_path / "state" / "fixed", outputs)
    hostvars = listed(tmp_path, state_dir=tmp_path / "state", cluster=fixed)["_meta"]["hostvars"]
    assert all("ansible_user" not in hv for hv in hostvars.values())
    assert all("ansible_ssh_private_key_file" not in hv for hv in hostvars.values())


def test_contract_violation_fails_naming_file_and_problem(tmp_path, fixed):
    outputs = static_outputs(None)
    outputs["hosts"][2]["role"] = "worker"  # no metrics_host
    path = write_outputs(tmp_path / "state" / "fixed", outputs)
    done = inventory(tmp_path, "--list", state_dir=tmp_path / "state", cluster=fixed)
    assert done.returncode != 0
    assert str(path) in done.stderr
    assert "exactly one metrics_host" in done.stderr


def test_unreadable_json_fails_naming_the_file(tmp_path, fixed):
    state_dir = tmp_path / "state" / "fixed"
    state_dir.mkdir(parents=True)
    path = state_dir / stack_outputs.FILE_NAME
    path.write_text('{"cluster": "half', encoding="utf-8")
    done = inventory(tmp_path, "--list", state_dir=tmp_path / "state", cluster=fixed)
    assert done.returncode != 0
    assert str(path) in done.stderr


def test_bug_hosts_as_a_mapping_fails_naming_file_and_problem(tmp_path, fixed):
    """A hand-written outputs file with ``hosts`` as a mapping: the error says only ``0``."""
    outputs = static_outputs(None)
    outputs["hosts"] = {host["name"]: host for host in outputs["hosts"]}
    path = write_outputs(tmp_path / "state" / "fixed", outputs)
    done = inventory(tmp_path, "--list", state_dir=tmp_path / "state", cluster=fixed)
    assert done.returncode != 0
    assert str(path) in done.stderr
    assert "hosts" in done.stderr.replace(str(path), "")


def test_keyed_groups_groups_and_compose_from_own_config(tmp_path, inv, local_state):
    config = tmp_path / "x.burst.yml"
    config.write_text(
        "plugin: burst.cluster.stack_outputs\n"
        f"cluster_file: {json.dumps(str(inv))}\n"
        f"state_dir: {json.dumps(str(tmp_path / 'state'))}\n"
        "keyed_groups:\n"
        "  - key: burst_role\n"
        "    prefix: role\n"
        "groups:\n"
        "  processing: burst_role != 'metrics_host'\n"
        "compose:\n"
        "  dask_address: \"'tcp://' ~ burst_private_ip ~ ':8786'\"\n",
        encoding="utf-8",
    )
    data = listed(tmp_path, "-i", str(config))  # no BURST_STATE_DIR, no -e: the file's options
    assert hosts_of(data, "role_initializer") == ["inv-0"]
    assert hosts_of(data, "role_worker") == ["inv-1", "inv-2"]
    assert hosts_of(data, "role_metrics_host") == ["inv-metrics"]
    assert hosts_of(data, "processing") == ["inv-0", "inv-1", "inv-2"]
    assert hosts_of(data, "scheduler") == ["inv-0"]
    for hv in data["_meta"]["hostvars"].values():
        assert hv["dask_address"] == "tcp://127.0.0.1:8786"


def test_source_not_named_burst_yml_is_not_parsed(tmp_path, inv, local_state):
    config = tmp_path / "x.yml"
    config.write_text("plugin: burst.cluster.stack_outputs\n", encoding="utf-8")
    done = inventory(
        tmp_path, "--list", "-i", str(config), state_dir=tmp_path / "state", cluster=inv
    )
    assert done.returncode != 0  # unparsed_is_failed in ansible.cfg
    assert f"Unable to parse {config}" in done.stderr
    assert "inv-0" not in done.stdout


def test_each_cluster_of_one_directory_gets_its_own_hosts(tmp_path):
    """Two cluster files side by side, both up: -e cluster_file picks whose outputs to read,
    from .burst/<name>/ beside the files (no $BURST_STATE_DIR)."""
    one = write_cluster(tmp_path, "one", provider="local", size=1)
    two = write_cluster(tmp_path, "two", provider="local", size=2)
    assert bring_up(one) == tmp_path / ".burst" / "one"
    assert bring_up(two) == tmp_path / ".burst" / "two"
    for path, hosts in ((one, ["one-0", "one-metrics"]), (two, ["two-0", "two-1", "two-metrics"])):
        data = listed(tmp_path, cluster=path)
        assert hosts_of(data, "cluster") == hosts
        name = path.stem
        for host, hv in data["_meta"]["hostvars"].items():
            assert hv["burst_cluster"] == name
            assert hv["burst_workdir"] == str(tmp_path / ".burst" / name / "hosts" / host)
        graph = inventory(tmp_path, "--graph", cluster=path)
        assert graph.returncode == 0, graph.stderr
        assert f"{name}-0" in graph.stdout
        assert ("one-0" in graph.stdout) == (name == "one")


def test_without_a_cluster_file_it_is_the_checkouts_cluster_yaml(tmp_path):
    up = bring_up(REPO / "cluster.yaml", tmp_path / "state")
    name = load_cluster_file(REPO / "cluster.yaml")["name"]
    assert up == tmp_path / "state" / name
    data = listed(tmp_path, state_dir=tmp_path / "state")
    assert hosts_of(data, "scheduler") == [f"{name}-0"]


@pytest.mark.parametrize("text", ["name: Not A Name\n", "size: [\n", None])
def test_a_cluster_file_that_does_not_load_is_an_empty_inventory(tmp_path, local_state, text):
    path = tmp_path / "bad.yaml"
    if text is not None:  # else: no such file
        path.write_text(text, encoding="utf-8")
    done = inventory(tmp_path, "--list", state_dir=tmp_path / "state", cluster=path)
    assert done.returncode == 0, done.stderr
    assert plain(json.loads(done.stdout))["_meta"]["hostvars"] == {}
    assert "inv-0" not in done.stdout
