"""burst.cluster.stack with provider local: the stack outputs file and the hosts' work dirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.burst.cluster.plugins.module_utils import providers, stack_outputs
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    load_cluster_file,
    validate_config,
)
from ansible_collections.burst.cluster.plugins.modules import stack
from module_runner import runner


@pytest.fixture
def run(monkeypatch):
    return runner(monkeypatch, stack.main)


@pytest.fixture
def config(tmp_path):
    """A local cluster of size 3, through the real loader."""
    cluster_file = tmp_path / "cluster.yaml"
    cluster_file.write_text("name: unit\nprovider: local\nsize: 3\n", encoding="utf-8")
    return load_cluster_file(cluster_file)


@pytest.fixture
def state_dir(tmp_path):
    return tmp_path / "state"


def outputs_file(state_dir: Path) -> Path:
    return state_dir / "stack-outputs.json"


def test_present_writes_the_local_outputs(run, config, state_dir):
    result = run(config=config, state="present", state_dir=str(state_dir))
    assert result["failed"] is False, result
    assert result["changed"] is True
    assert result["outputs_file"] == str(outputs_file(state_dir))
    written = json.loads(outputs_file(state_dir).read_text(encoding="utf-8"))
    expected = providers.get("local").outputs(config, str(state_dir))
    assert written == expected
    assert result["outputs"] == expected
    assert stack_outputs.check(written) is written
    roles = [host["role"] for host in written["hosts"]]
    assert roles == ["initializer", "worker", "worker", "metrics_host"]
    assert all(Path(h["workdir"]).parent == state_dir / "hosts" for h in written["hosts"])


def test_second_present_changes_nothing(run, config, state_dir):
    run(config=config, state_dir=str(state_dir))
    before = outputs_file(state_dir).stat().st_mtime_ns
    again = run(config=config, state_dir=str(state_dir))
    assert again["failed"] is False, again
    assert again["changed"] is False
    assert outputs_file(state_dir).stat().st_mtime_ns == before


def test_present_with_another_size_rewrites_the_outputs(run, config, state_dir):
    run(config=config, state_dir=str(state_dir))
    smaller = validate_config({"name": "unit", "provider": "local", "size": 1}, config["base_dir"])
    result = run(config=smaller, state_dir=str(state_dir))
    assert result["changed"] is True
    written = json.loads(outputs_file(state_dir).read_text(encoding="utf-8"))
    assert [h["role"] for h in written["hosts"]] == ["initializer", "metrics_host"]


def test_check_mode_present_writes_nothing(run, config, state_dir):
    result = run(check_mode=True, config=config, state_dir=str(state_dir))
    assert result["failed"] is False, result
    assert result["changed"] is True
    assert not outputs_file(state_dir).exists()
    assert not state_dir.exists()


def test_absent_removes_outputs_and_workdirs(run, config, state_dir):
    up = run(config=config, state_dir=str(state_dir))
    workdirs = [Path(host["workdir"]) for host in up["outputs"]["hosts"]]
    for workdir in workdirs:
        (workdir / "run-1").mkdir(parents=True)
        (workdir / "run-1" / "results.csv").write_text("id,class\n", encoding="utf-8")

    down = run(config=config, state="absent", state_dir=str(state_dir))
    assert down["failed"] is False, down
    assert down["changed"] is True
    assert down["outputs"] == up["outputs"]
    assert not outputs_file(state_dir).exists()
    assert [w for w in workdirs if w.exists()] == []

    again = run(config=config, state="absent", state_dir=str(state_dir))
    assert again["failed"] is False, again
    assert again["changed"] is False
    assert again["outputs"] == {}


def test_check_mode_absent_removes_nothing(run, config, state_dir):
    up = run(config=config, state_dir=str(state_dir))
    workdir = Path(up["outputs"]["hosts"][0]["workdir"])
    workdir.mkdir(parents=True)
    result = run(check_mode=True, config=config, state="absent", state_dir=str(state_dir))
    assert result["changed"] is True
    assert outputs_file(state_dir).exists()
    assert workdir.is_dir()


def static_config(tmp_path, hosts, size):
    key = tmp_path / "id_test"
    key.write_text("not a real key\n")
    data = {
        "name": "rack",
        "provider": "static",
        "size": size,
        "static": {"hosts": hosts, "user": "ops", "ssh_key": "id_test"},
    }
    return validate_config(data, tmp_path)


def test_static_hosts_in_order_with_their_own_metrics_host(run, tmp_path, state_dir):
    config = static_config(tmp_path, ["10.77.0.10", "10.77.0.11", "stats.example", "extra"], 2)
    result = run(config=config, state="present", state_dir=str(state_dir))
    assert result["failed"] is False, result
    written = json.loads(outputs_file(state_dir).read_text(encoding="utf-8"))
    assert written == result["outputs"] == stack_outputs.check(written)
    assert [(h["name"], h["role"], h["private_ip"]) for h in written["hosts"]] == [
        ("rack-0", "initializer", "10.77.0.10"),
        ("rack-1", "worker", "10.77.0.11"),
        ("rack-metrics", "metrics_host", "stats.example"),
    ]
    assert [h["workdir"] for h in written["hosts"]] == [
        "/tmp/burst/rack/rack-0",
        "/tmp/burst/rack/rack-1",
        "/tmp/burst/rack/rack-metrics",
    ]
    assert (written["ssh_user"], written["ssh_key"]) == ("ops", str(tmp_path / "id_test"))
    assert written["provider"] == "static"


def test_static_initializer_doubles_as_metrics_host(run, tmp_path, state_dir):
    config = static_config(tmp_path, ["10.77.0.10", "10.77.0.11"], 2)
    outputs = run(config=config, state="present", state_dir=str(state_dir))["outputs"]
    assert [(h["name"], h["role"], h["private_ip"]) for h in outputs["hosts"]] == [
        ("rack-0", "initializer", "10.77.0.10"),
        ("rack-1", "worker", "10.77.0.11"),
        ("rack-metrics", "metrics_host", "10.77.0.10"),
    ]
    assert len({h["workdir"] for h in outputs["hosts"]}) == 3


def test_static_absent_removes_outputs_and_host_keys_only(run, tmp_path, state_dir):
    config = static_config(tmp_path, ["10.77.0.10"], 1)
    run(config=config, state="present", state_dir=str(state_dir))
    known_hosts = state_dir / "known_hosts"
    known_hosts.write_text("10.77.0.10 ssh-ed25519 AAAA\n")
    result = run(config=config, state="absent", state_dir=str(state_dir))
    assert result["failed"] is False and result["changed"] is True
    assert not outputs_file(state_dir).exists() and not known_hosts.exists()
    again = run(config=config, state="absent", state_dir=str(state_dir))
    assert again["changed"] is False
