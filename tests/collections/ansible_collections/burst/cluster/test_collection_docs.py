"""Every module and the inventory plugin of burst.cluster document themselves for ansible-doc."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ansible

REPO = next(p for p in Path(__file__).resolve().parents if (p / "ansible.cfg").is_file())
BIN = Path(sys.executable).parent

PLUGINS = [
    ("module", "service"),
    ("module", "stack"),
    ("module", "job_status"),
    ("module", "wait_job"),
    ("module", "config"),
    ("module", "report"),
    ("module", "run_lock"),
    ("module", "try_classifier"),
    ("inventory", "stack_outputs"),
]


def ansible_doc(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return ansible(
        "ansible-doc",
        *args,
        cwd=tmp_path,
        timeout=60,
        ANSIBLE_COLLECTIONS_PATH=REPO / "collections",
        ANSIBLE_LOCAL_TEMP=tmp_path / "ansible-tmp",
    )


@pytest.mark.parametrize(("kind", "name"), PLUGINS, ids=[name for _, name in PLUGINS])
def test_ansible_doc_shows_the_plugin(tmp_path, kind, name):
    done = ansible_doc(tmp_path, "-t", kind, f"burst.cluster.{name}")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "ERROR" not in output
    assert f"burst.cluster.{name}" in done.stdout
    assert "EXAMPLES" in done.stdout


@pytest.mark.parametrize(("kind", "name"), PLUGINS, ids=[name for _, name in PLUGINS])
def test_documentation_has_examples_and_return(tmp_path, kind, name):
    done = ansible_doc(tmp_path, "--json", "-t", kind, f"burst.cluster.{name}")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)[f"burst.cluster.{name}"]
    assert doc["doc"]["short_description"]
    assert doc["examples"].strip()
    assert all(yaml.safe_load_all(doc["examples"])), f"{name}'s EXAMPLES are not YAML"
    if kind == "module":
        assert doc["return"], f"{name} documents no RETURN"
