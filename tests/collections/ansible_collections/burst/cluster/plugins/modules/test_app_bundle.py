"""burst.cluster.app_bundle: a real build with the controller's pip, from a copy of the sources."""

import json
import sys
import tarfile

import pytest
from ansible_collections.burst.cluster.plugins.modules import app_bundle
from conftest import copy_sources
from module_runner import runner

HOST = {"python": f"{sys.version_info.major}.{sys.version_info.minor}", "machine": "x86_64"}
HOST["glibc"] = "2.36"


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


def test_one_bundle_has_the_app_and_its_pinned_wheels_and_is_built_once(run, source, tmp_path):
    old = {**HOST, "python": "3.10"}
    first = run(source=str(source), dest=str(tmp_path), targets=[HOST, old, HOST])
    assert first["failed"] is False, first["msg"]
    assert first["changed"] is True
    assert first["pythons"] == [HOST["python"]]  # 3.10 is below requires-python
    assert first["requires_python"] == ">=3.11"
    with tarfile.open(first["path"]) as tar:
        names = tar.getnames()
        index = json.load(tar.extractfile("bundle.json"))
    assert index["pythons"] == [HOST["python"]]
    assert f"wheels/{first['app']}" in names
    assert first["app"].startswith("burst-0.1.0-")
    assert (f"wheels/{first['pip']}", index["pip"]) in [(n, first["pip"]) for n in names]
    pins = dict(
        line.split("==")
        for line in (source / "constraints.txt").read_text().splitlines()
        if "==" in line
    )
    tag = "cp" + HOST["python"].replace(".", "")
    for name in ("pandas", "numpy"):
        assert [n for n in names if n.startswith(f"wheels/{name}-{pins[name]}-{tag}-")], name
    assert not [n for n in names if n.startswith("wheels/") and "cp310" in n]

    again = run(source=str(source), dest=str(tmp_path), targets=[old, HOST])
    assert (again["changed"], again["path"]) == (False, first["path"])
    assert (again["app"], again["pip"]) == (first["app"], first["pip"])


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


def test_a_directory_that_is_not_the_repository_is_named(run, tmp_path):
    done = run(source=str(tmp_path), dest=str(tmp_path / "bundles"), targets=[HOST])
    assert done["failed"] is True
    assert done["msg"].startswith(f"source: '{tmp_path}' is not the burst repository root")
    assert not (tmp_path / "bundles").exists()
