"""The stack outputs contract: stack_outputs.check, read and write."""

from __future__ import annotations

import copy
import json

import pytest
from ansible_collections.burst.cluster.plugins.module_utils import providers, stack_outputs
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    validate_config,
)


def host(name: str, role: str, index: int) -> dict:
    return {
        "name": name,
        "role": role,
        "instance_id": f"i-{index:04d}",
        "private_ip": f"10.77.0.{10 + index}",
        "public_dns": None,
        "workdir": "/srv/burst",
    }


GOOD = {
    "cluster": "contract",
    "provider": "static",
    "ssh_user": "ubuntu",
    "ssh_key": None,
    "dashboard_url": None,
    "alarm_topic": None,
    "hosts": [
        host("init", "initializer", 0),
        host("w1", "worker", 1),
        host("metrics", "metrics_host", 2),
    ],
}


def good() -> dict:
    return copy.deepcopy(GOOD)


def test_good_outputs_pass():
    outputs = good()
    assert stack_outputs.check(outputs) is outputs


def test_local_outputs_pass(tmp_path):
    config = validate_config({"name": "loc", "provider": "local", "size": 4}, tmp_path)
    outputs = providers.get("local").outputs(config, str(tmp_path))
    assert stack_outputs.check(outputs) is outputs
    assert [h["role"] for h in outputs["hosts"]].count("worker") == 3


@pytest.mark.parametrize("key", stack_outputs.TOP_KEYS)
def test_missing_top_key_is_named(key):
    outputs = good()
    del outputs[key]
    with pytest.raises(ValueError, match=f"lack {key}$"):
        stack_outputs.check(outputs)


def test_all_missing_top_keys_are_named():
    outputs = good()
    del outputs["ssh_user"], outputs["alarm_topic"]
    with pytest.raises(ValueError, match="lack ssh_user, alarm_topic"):
        stack_outputs.check(outputs)


def test_first_host_must_be_the_initializer():
    outputs = good()
    outputs["hosts"].reverse()
    with pytest.raises(ValueError, match="first host must be the initializer"):
        stack_outputs.check(outputs)


def test_no_hosts_is_rejected():
    outputs = good()
    outputs["hosts"] = []
    with pytest.raises(ValueError, match="first host must be the initializer"):
        stack_outputs.check(outputs)


def test_bad_role_is_named_with_its_index_and_the_allowed_roles():
    outputs = good()
    outputs["hosts"][1]["role"] = "scheduler"
    with pytest.raises(ValueError) as info:
        stack_outputs.check(outputs)
    message = str(info.value)
    assert "hosts[1].role 'scheduler'" in message
    assert "initializer, worker, metrics_host" in message


def test_zero_metrics_hosts_is_rejected():
    outputs = good()
    outputs["hosts"][2]["role"] = "worker"
    with pytest.raises(ValueError, match="exactly one metrics_host"):
        stack_outputs.check(outputs)


def test_two_metrics_hosts_is_rejected():
    outputs = good()
    outputs["hosts"][1]["role"] = "metrics_host"
    with pytest.raises(ValueError, match="exactly one metrics_host"):
        stack_outputs.check(outputs)


@pytest.mark.parametrize("key", [k for k in stack_outputs.HOST_KEYS if k != "role"])
def test_host_lacking_a_key_is_named(key):
    outputs = good()
    del outputs["hosts"][2][key]
    with pytest.raises(ValueError, match=rf"hosts\[2\] lacks {key}$"):
        stack_outputs.check(outputs)


def test_write_refuses_broken_outputs_and_writes_nothing(tmp_path):
    outputs = good()
    del outputs["hosts"][1]["workdir"]
    path = tmp_path / "state" / stack_outputs.FILE_NAME
    with pytest.raises(ValueError, match="lacks workdir"):
        stack_outputs.write(str(path), outputs)
    assert not path.exists()


def test_write_then_read_round_trips(tmp_path):
    path = tmp_path / "state" / stack_outputs.FILE_NAME
    stack_outputs.write(str(path), good())
    assert stack_outputs.read(str(path)) == GOOD
    assert [p.name for p in path.parent.iterdir()] == [stack_outputs.FILE_NAME]


def test_read_of_no_file_is_none(tmp_path):
    assert stack_outputs.read(str(tmp_path / stack_outputs.FILE_NAME)) is None


def test_read_checks_the_file(tmp_path):
    path = tmp_path / stack_outputs.FILE_NAME
    outputs = good()
    outputs["hosts"][0]["role"] = "worker"
    path.write_text(json.dumps(outputs), encoding="utf-8")
    with pytest.raises(ValueError, match="initializer"):
        stack_outputs.read(str(path))


def test_a_cluster_state_is_under_its_name_beside_its_file_or_in_the_environment(
    monkeypatch, tmp_path
):
    monkeypatch.delenv("BURST_STATE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    first = validate_config({"name": "first"}, tmp_path / "files")
    second = validate_config({"name": "second"}, tmp_path / "files")
    assert stack_outputs.state_dir(first) == str(tmp_path / "files" / ".burst" / "first")
    assert stack_outputs.state_dir(second) == str(tmp_path / "files" / ".burst" / "second")
    assert stack_outputs.state_dir(first, "given") == str(tmp_path / "given" / "first")
    monkeypatch.setenv("BURST_STATE_DIR", str(tmp_path / "from-env"))
    assert stack_outputs.state_dir(first) == str(tmp_path / "from-env" / "first")
    assert stack_outputs.state_dir(first, "given") == str(tmp_path / "given" / "first")


# The contract says check() raises ValueError naming what is wrong. Hand-written outputs
# (provider static) with the wrong shapes below make it raise KeyError/AttributeError/
# TypeError instead, which the inventory plugin does not catch (see the inventory tests).


def test_host_that_is_not_a_mapping_is_rejected():
    outputs = good()
    outputs["hosts"][1] = "w1"
    with pytest.raises(ValueError, match=r"hosts\[1\]"):
        stack_outputs.check(outputs)


@pytest.mark.parametrize(
    "hosts",
    [
        pytest.param({h["name"]: h for h in GOOD["hosts"]}, id="hosts-is-a-mapping"),
        pytest.param(["init", *GOOD["hosts"][1:]], id="first-host-is-a-string"),
    ],
)
def test_bug_check_wrong_shapes_raise_value_error(hosts):
    outputs = good()
    outputs["hosts"] = copy.deepcopy(hosts)
    with pytest.raises(ValueError, match="hosts"):
        stack_outputs.check(outputs)


def test_bug_check_rejects_an_unknown_provider():
    outputs = good()
    outputs["provider"] = "Local"
    with pytest.raises(ValueError, match="provider"):
        stack_outputs.check(outputs)


def test_the_dask_dashboard_of_a_local_run_is_opened_directly(tmp_path):
    config = validate_config(
        {"name": "loc", "provider": "local", "ports": {"dashboard": 9787}}, tmp_path
    )
    outputs = providers.get("local").outputs(config, str(tmp_path))
    assert stack_outputs.dask_dashboard(outputs, 9787) == {
        "url": "http://127.0.0.1:9787/status",
        "tunnel": None,
    }


@pytest.mark.parametrize(
    ("user", "key", "public_dns", "tunnel"),
    [
        (None, None, None, "ssh -N -L 8787:10.77.0.10:8787 10.77.0.10"),
        (
            "ubuntu",
            "/state/demo/ssh/demo ed25519",
            "ec2-1.compute.amazonaws.com",
            "ssh -i '/state/demo/ssh/demo ed25519' -N -L 8787:10.77.0.10:8787"
            " ubuntu@ec2-1.compute.amazonaws.com",
        ),
    ],
)
def test_the_dask_dashboard_of_remote_machines_is_reached_through_an_ssh_tunnel(
    user, key, public_dns, tunnel
):
    outputs = good()
    outputs.update(ssh_user=user, ssh_key=key)
    outputs["hosts"][0]["public_dns"] = public_dns
    assert stack_outputs.dask_dashboard(outputs, 8787) == {
        "url": "http://localhost:8787/status",
        "tunnel": tunnel,
    }


def test_the_inventory_gives_every_host_its_groups_and_how_to_reach_it(tmp_path):
    outputs = good()
    outputs["ssh_key"] = "/keys/id"
    hosts = stack_outputs.inventory(outputs, {}, str(tmp_path), "/usr/bin/python3")
    assert [(h["name"], h["groups"]) for h in hosts] == [
        ("init", ["cluster", "scheduler", "workers"]),
        ("w1", ["cluster", "workers"]),
        ("metrics", ["cluster", "metrics_host"]),
    ]
    first = hosts[0]["vars"]
    assert first["ansible_host"] == "10.77.0.10"
    assert first["ansible_user"] == "ubuntu"
    assert first["ansible_ssh_private_key_file"] == "/keys/id"
    assert f"UserKnownHostsFile={tmp_path}/known_hosts" in first["ansible_ssh_common_args"]
    assert first["burst_cluster"] == "contract" and first["burst_role"] == "initializer"
    assert "ansible_connection" not in first
    assert first["burst_on_controller"] is False and first["burst_machines_torn_down"] is False
    assert first["burst_host_env"] == {}


def test_the_inventory_says_when_the_hosts_are_the_controller(tmp_path):
    config = validate_config({"name": "loc", "provider": "local"}, tmp_path)
    outputs = providers.get("local").outputs(config, str(tmp_path))
    hosts = stack_outputs.inventory(outputs, config, str(tmp_path), "/venv/bin/python")
    for host in hosts:
        assert host["vars"]["ansible_connection"] == "local"
        assert host["vars"]["ansible_python_interpreter"] == "/venv/bin/python"
        assert host["vars"]["burst_on_controller"] is True
        assert host["vars"]["burst_host_env"] == {"PYTHONPATH": str(tmp_path)}
