"""burst.cluster.stack with provider local: the stack outputs file and the hosts' work dirs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from module_runner import runner

REPO = next(p for p in Path(__file__).resolve().parents if (p / "ansible.cfg").is_file())
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.burst.cluster.plugins.module_utils import stack_outputs  # noqa: E402
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (  # noqa: E402
    load_cluster_file,
    validate_config,
)
from ansible_collections.burst.cluster.plugins.modules import stack  # noqa: E402


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
    expected = stack_outputs.local(config, str(state_dir))
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


def test_provider_static_fails_naming_the_provider(run, tmp_path, state_dir):
    config = validate_config(
        {"name": "rack", "provider": "static", "static": {"hosts": ["10.77.0.2"]}}, tmp_path
    )
    result = run(config=config, state_dir=str(state_dir))
    assert result["failed"] is True
    assert "provider: 'static' is not supported" in result["msg"]
    assert not outputs_file(state_dir).exists()
