"""burst.cluster.app_bundle: a real build with the controller's pip, from a copy of the sources."""

import importlib.util
import json
import sys
import tarfile
from pathlib import Path

import pytest
from ansible_collections.burst.cluster.plugins.modules import app_bundle
from conftest import copy_sources
from module_runner import runner

HOST = {"python": f"{sys.version_info.major}.{sys.version_info.minor}", "machine": "x86_64"}
HOST["glibc"] = "2.36"
CACHE_TAG = sys.implementation.cache_tag


@pytest.fixture
def run(monkeypatch):
    return runner(monkeypatch, app_bundle.main)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return copy_sources(tmp_path_factory.mktemp("bundle") / "source")


def test_platforms_are_every_manylinux_the_host_glibc_runs_and_no_newer():
    tags = app_bundle.platforms("aarch64", "2.17")
    assert tags[:2] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert {"manylinux_2_5_aarch64", "manylinux1_aarch64", "manylinux2010_aarch64"} <= set(tags)
    assert not [tag for tag in tags if "2_18" in tag or "x86_64" in tag]
    assert tags[-1] == "linux_aarch64"
    assert app_bundle.platforms("x86_64", "") == ["linux_x86_64"]


def test_one_bundle_has_the_app_installed_and_compiled_and_is_built_once(run, source, tmp_path):
    old = {**HOST, "python": "3.10"}
    first = run(source=str(source), dest=str(tmp_path), targets=[HOST, old, HOST])
    assert first["failed"] is False, first["msg"]
    assert first["changed"] is True
    assert first["pythons"] == [HOST["python"]]  # 3.10 is below requires-python
    assert first["requires_python"] == ">=3.11"
    (tree,) = first["trees"]  # one for the two hosts alike, none for 3.10
    assert {k: tree[k] for k in HOST} == HOST
    assert Path(tree["path"]).parent == Path(first["path"])
    index = json.loads((Path(first["path"]) / "bundle.json").read_text())
    assert index["pythons"] == [HOST["python"]]
    with tarfile.open(tree["path"]) as tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
        pyc = tar.extractfile(members[f"classifier/__pycache__/source.{CACHE_TAG}.pyc"]).read()
    pins = dict(
        line.split("==")
        for line in (source / "constraints.txt").read_text().splitlines()
        if "==" in line
    )
    for name in ("pandas", "numpy", "dask", "distributed"):
        assert f"{name}-{pins[name]}.dist-info/METADATA" in members, name
    assert "burst-0.1.0.dist-info/METADATA" in members
    assert "classifier/source.py" in members
    assert not [n for n in members if n.startswith("bin/")]
    assert "pandas/core/frame.py" in members
    assert not [n for n in members if "/tests/" in n or n.endswith("/tests")]
    assert {m.uid for m in members.values()} == {0}
    # The modules the app imports are compiled, checked against their source by hash.
    compiled = [n for n in members if n.endswith(f".{CACHE_TAG}.pyc")]
    assert len(compiled) == tree["compiled"] > 300
    assert f"distributed/__pycache__/scheduler.{CACHE_TAG}.pyc" in members
    assert f"pandas/core/__pycache__/frame.{CACHE_TAG}.pyc" in members
    flags = int.from_bytes(pyc[4:8], "little")
    assert flags == 0b11  # hash-based, checked
    assert pyc[8:16] == importlib.util.source_hash(
        (source / "classifier" / "source.py").read_bytes()
    )

    again = run(source=str(source), dest=str(tmp_path), targets=[old, HOST])
    assert (again["changed"], again["path"], again["trees"]) == (
        False,
        first["path"],
        first["trees"],
    )


def test_a_target_this_controller_cannot_import_gets_its_tree_without_bytecode(
    run, source, tmp_path
):
    other = {**HOST, "machine": "aarch64", "glibc": "2.28"}
    done = run(source=str(source), dest=str(tmp_path), targets=[other])
    assert done["failed"] is False, done["msg"]
    (tree,) = done["trees"]
    assert tree["compiled"] == 0
    with tarfile.open(tree["path"]) as tar:
        names = tar.getnames()
    assert not [n for n in names if n.endswith(".pyc")]
    assert [
        n
        for n in names
        if "numpy.libs/" in n and "aarch64" in n or n.endswith("aarch64-linux-gnu.so")
    ]


def test_a_changed_source_names_a_new_bundle_and_check_mode_builds_nothing(run, source, tmp_path):
    before = run(check_mode=True, source=str(source), dest=str(tmp_path), targets=[HOST])
    (source / "classifier" / "bundle_probe.py").write_text("PROBE = 1\n")
    try:
        after = run(check_mode=True, source=str(source), dest=str(tmp_path), targets=[HOST])
    finally:
        (source / "classifier" / "bundle_probe.py").unlink()
    assert before["changed"] is after["changed"] is True
    assert before["key"] != after["key"]
    other = run(
        check_mode=True, source=str(source), dest=str(tmp_path), targets=[{**HOST, "glibc": "2.28"}]
    )
    assert other["key"] != before["key"]
    assert list(tmp_path.iterdir()) == []
    assert {k: before["trees"][0][k] for k in HOST} == HOST
    assert before["trees"][0]["path"].startswith(before["path"] + "/")


def test_a_directory_that_is_not_the_repository_is_named(run, tmp_path):
    done = run(source=str(tmp_path), dest=str(tmp_path / "bundles"), targets=[HOST])
    assert done["failed"] is True
    assert done["msg"].startswith(f"source: '{tmp_path}' is not the burst repository root")
    assert not (tmp_path / "bundles").exists()
