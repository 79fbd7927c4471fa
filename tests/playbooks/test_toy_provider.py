"""A provider is one module and a section of the schema: in a copy of burst, a toy provider
written as only those two serves `make check` and `make preview`."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import BIN, REPO, ansible_env, makefile_ready

pytestmark = pytest.mark.slow

COLLECTION = "collections/ansible_collections/burst/cluster"

# Every host is a directory of its own on this machine, as with local, under names of its own.
TOY = '''\
"""Provider ``toy``: a cluster of directories on this machine."""

import os

from ansible_collections.burst.cluster.plugins.module_utils import stack_outputs

SECTION = "toy"
ON_CONTROLLER = True
TORN_DOWN = False
CLOUD = False
RUNS_ON = "a toy"


def problems(config, base_dir):
    if config["toy"]["colour"] == "plaid":
        return ["toy.colour: 'plaid' — not a colour a toy comes in"]
    return []


def machines(config):
    return f"{config['toy']['colour']} toy machines"


def env(config):
    return {"PYTHONPATH": config["base_dir"]}


def sizes(config):
    return range(1, 3)


def sized_on(config):
    return "toy"


def would_take(config, size):
    return f"{size} toys"


def run_cost(config, prices):
    return None


def stack(config, directory, state, check_mode, force):
    hosts = [
        {
            "name": name,
            "role": role,
            "instance_id": f"toy-{index}",
            "private_ip": "127.0.0.1",
            "public_dns": "localhost",
            "workdir": os.path.join(directory, "toys", name),
        }
        for index, (name, role) in enumerate(stack_outputs.host_plan(config))
    ]
    outputs = {
        "cluster": config["name"],
        "provider": "toy",
        "ssh_user": None,
        "ssh_key": None,
        "dashboard_url": None,
        "alarm_topic": None,
        "hosts": hosts,
    }
    return stack_outputs.existing(outputs, directory, state, check_mode, remove_workdirs=True)
'''
TOY_SECTION = {
    "description": "A toy cluster; required when provider is 'toy'.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "colour": {"description": "The toy's colour.", "type": "string", "default": "red"}
    },
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A copy of burst with provider toy: its module and its schema section, nothing else."""
    tree = tmp_path_factory.mktemp("burst-with-toy") / "burst"
    shutil.copytree(
        REPO,
        tree,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git", ".venv", ".burst", "output", "__pycache__"),
    )
    providers = tree / COLLECTION / "plugins" / "module_utils" / "providers"
    (providers / "toy.py").write_text(TOY, encoding="utf-8")
    schema_path = tree / COLLECTION / "schema" / "cluster.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    schema["properties"]["provider"]["enum"].append("toy")
    schema["properties"]["toy"] = TOY_SECTION
    schema_path.write_text(json.dumps(schema, indent=2), encoding="utf-8")
    return tree


def make(tree, target, cluster, tmp_path):
    venv = BIN.parent
    return subprocess.run(
        ["make", "--no-print-directory", target, f"CLUSTER={cluster}", f"VENV={venv}"]
        + ["-o", makefile_ready(tree, venv)],
        cwd=tree,
        env=ansible_env(BURST_STATE_DIR=tmp_path / "state"),
        capture_output=True,
        text=True,
        timeout=600,
    )


def toy_cluster(tmp_path, colour):
    path = tmp_path / "toy.yaml"
    path.write_text(
        f"name: toy\nprovider: toy\nsize: 2\nsource: {{kind: synthetic, rows: 50}}\n"
        f"toy: {{colour: {colour}}}\n",
        encoding="utf-8",
    )
    return path


def test_make_check_takes_the_toy_and_its_problems(tree, tmp_path):
    done = make(tree, "check", toy_cluster(tmp_path, "blue"), tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "toy.yaml is valid: cluster toy, provider toy, 2 machine(s)" in output

    plaid = make(tree, "check", toy_cluster(tmp_path, "plaid"), tmp_path)
    assert plaid.returncode != 0
    assert "toy.colour: 'plaid' — not a colour a toy comes in" in plaid.stdout + plaid.stderr

    missing = tmp_path / "missing.yaml"
    missing.write_text("name: toy\nprovider: toy\n", encoding="utf-8")
    refused = make(tree, "check", missing, tmp_path)
    assert refused.returncode != 0
    assert "provider: 'toy' needs a 'toy' section" in refused.stdout + refused.stderr


def test_make_preview_plans_the_toy_cluster(tree, tmp_path):
    done = make(tree, "preview", toy_cluster(tmp_path, "blue"), tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    plan = (tmp_path / "state" / "toy" / "plan.md").read_text(encoding="utf-8")
    assert "blue toy machines" in plan
    assert "**Cost:** $0; provider `toy` runs on a toy, with no cloud machine." in plan
    assert "**Resources:** none; provider `toy` makes no cloud resource." in plan
    assert not (tmp_path / "state" / "toy" / "toys").exists()  # a preview makes nothing
