"""burst.cluster stands alone: the artifact ansible-galaxy builds installs into an empty
directory and works from there, with no burst checkout beside it."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from conftest import BIN, REPO, ansible, ansible_env, makefile_ready

COLLECTION = REPO / "collections" / "ansible_collections" / "burst" / "cluster"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The collection, built and installed into an empty directory: its collections path."""
    work = tmp_path_factory.mktemp("galaxy")
    built = ansible(
        "ansible-galaxy", "collection", "build", COLLECTION, "--output-path", work, cwd=work
    )
    assert built.returncode == 0, built.stdout + built.stderr
    version = yaml.safe_load((COLLECTION / "galaxy.yml").read_text(encoding="utf-8"))["version"]
    artifact = work / f"burst-cluster-{version}.tar.gz"
    with tarfile.open(artifact) as archive:
        names = archive.getnames()
    assert "schema/cluster.schema.json" in names and "schema/aws_prices.json" in names
    assert not [name for name in names if "/molecule/" in name or name.startswith("tests/")]
    target = work / "installed"
    done = ansible(
        "ansible-galaxy", "collection", "install", artifact, "-p", target, "--offline", cwd=work
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return target


def test_ansible_doc_reads_the_installed_copy(installed, tmp_path):
    done = ansible(
        "ansible-doc", "burst.cluster.config", cwd=tmp_path, ANSIBLE_COLLECTIONS_PATH=installed
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert str(installed / "ansible_collections/burst/cluster/plugins/modules/config.py") in (
        done.stdout
    )
    assert "schema/cluster.schema.json" in done.stdout


def test_make_check_runs_on_the_installed_copy(installed, tmp_path):
    """`make check` in a tree without collections/: only the installed copy can serve it."""
    tree = tmp_path / "burst"
    tree.mkdir()
    for name in ("Makefile", "ansible.cfg", "cluster.yaml"):
        shutil.copy(REPO / name, tree / name)
    shutil.copytree(REPO / "playbooks", tree / "playbooks", symlinks=True)
    (tree / "playbooks" / "collections").unlink()
    venv = BIN.parent
    done = subprocess.run(
        ["make", "--no-print-directory", "check", f"VENV={venv}", "-o", makefile_ready(tree, venv)],
        cwd=tree,
        env=ansible_env(ANSIBLE_COLLECTIONS_PATH=installed, BURST_STATE_DIR=tmp_path / "state"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "cluster.yaml is valid: cluster" in output
    assert "gives CLASSIFICATION" in output

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nsize: 0\n", encoding="utf-8")
    refused = subprocess.run(
        ["make", "--no-print-directory", "check", f"CLUSTER={broken}", f"VENV={venv}"]
        + ["-o", makefile_ready(tree, venv)],
        cwd=tree,
        env=ansible_env(ANSIBLE_COLLECTIONS_PATH=installed),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode != 0
    assert "size: 0 — must be an integer from 1 to" in refused.stdout + refused.stderr
