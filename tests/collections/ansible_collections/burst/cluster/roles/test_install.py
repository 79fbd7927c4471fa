"""Role burst.cluster.install: the app and its pinned dependencies in a virtual environment.

The role runs for real against this machine (connection local), into a prefix in the
test's temporary directory; a second run must change nothing.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, ansible, copy_sources

pytestmark = pytest.mark.slow

ROLE = REPO / "collections" / "ansible_collections" / "burst" / "cluster" / "roles" / "install"
PINNED = ("pandas", "dask", "distributed")

PLAYBOOK = """\
- name: Install the app
  hosts: target
  gather_facts: false
  roles:
    - role: burst.cluster.install
  post_tasks:
    - name: Check that the other roles will run the virtual environment's Python
      ansible.builtin.assert:
        that: burst_python == install_prefix ~ '/venv/bin/python'
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonical(name)] = version
    return pins


class Host:
    """A playbook that applies the role to this machine, with everything in ``root``."""

    def __init__(self, root: Path, source: Path):
        self.root = root
        self.workdir = root / "work"
        self.prefix = root / "prefix"
        self.venv = self.prefix / "venv"
        (root / "site.yml").write_text(PLAYBOOK)
        host = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            # Root without sudo on this machine; su needs no password for root. Become is
            # only used when python3 or python3-venv is missing, which it is not here.
            "ansible_become_method": "su",
            "burst_workdir": str(self.workdir),
            "install_prefix": str(self.prefix),
            "install_source": str(source),
            # Debian with python3 and python3-venv installed: dpkg-query finds both, so
            # apt is not run and nothing is fetched.
            "install_system_packages": True,
        }
        (root / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {"target": host}}}))

    def play(self, *args) -> subprocess.CompletedProcess:
        return ansible(
            "ansible-playbook",
            "-i",
            "inventory.yml",
            "site.yml",
            *args,
            cwd=self.root,
            timeout=600,
            ANSIBLE_CONFIG=REPO / "ansible.cfg",
            # ansible.cfg enables only the stack outputs inventory plugin.
            ANSIBLE_INVENTORY_ENABLED="yaml",
            ANSIBLE_HOME=self.root / "ansible-home",
            ANSIBLE_LOCAL_TEMP=self.root / "ansible-tmp",
            ANSIBLE_REMOTE_TEMP=self.root / "ansible-tmp",
            PIP_CACHE_DIR=self.root / "pip-cache",
        )

    def python(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.venv / "bin" / "python", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
        )


def recap(done: subprocess.CompletedProcess) -> dict[str, int]:
    match = re.search(r"^target\s+:\s+(.+)$", done.stdout, re.MULTILINE)
    assert match, done.stdout + done.stderr
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Check mode on a fresh host, then two real runs: the slow install happens once."""
    root = tmp_path_factory.mktemp("install")
    source = copy_sources(root / "source")
    # A module of the package that a test removes from the sources again.
    (source / "classifier" / "install_probe.py").write_text("PROBE = 1\n")
    host = Host(root, source)
    host.check = host.play("--check")
    host.prefix_after_check = host.prefix.exists()
    host.first = host.play()
    host.second = host.play()
    return host


def test_check_mode_on_a_fresh_host_succeeds_and_writes_nothing(installed):
    assert installed.check.returncode == 0, installed.check.stdout + installed.check.stderr
    assert recap(installed.check)["changed"] > 0
    assert not installed.prefix_after_check


def test_first_run_installs_and_second_run_changes_nothing(installed):
    assert installed.first.returncode == 0, installed.first.stdout + installed.first.stderr
    assert recap(installed.first)["changed"] > 0
    assert installed.second.returncode == 0, installed.second.stdout + installed.second.stderr
    assert recap(installed.second)["changed"] == 0, installed.second.stdout
    assert recap(installed.second)["failed"] == 0


def test_the_app_runs_in_the_venv_with_the_pinned_versions(installed):
    done = installed.python("-m", "classifier", "--help")
    assert done.returncode == 0, done.stderr
    assert "generate" in done.stdout

    done = installed.python(
        "-c",
        "import json, importlib.metadata as m, classifier; print(json.dumps({"
        "'file': classifier.__file__,"
        "'versions': {d.metadata['Name']: d.version for d in m.distributions()}}))",
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    # Installed, not editable: the module comes from the venv, not from the copied sources.
    assert Path(found["file"]).is_relative_to(installed.venv), found["file"]
    versions = {canonical(name): version for name, version in found["versions"].items()}
    pins = pinned_versions()
    for name in PINNED:
        assert versions.get(name) == pins[name], name
    unpinned = {n: v for n, v in versions.items() if n in pins and pins[n] != v}
    assert not unpinned


def test_a_module_removed_from_the_sources_leaves_the_venv(installed):
    done = installed.python(
        "-c", "import classifier, os; print(os.path.dirname(classifier.__file__))"
    )
    package = Path(done.stdout.strip())
    assert (package / "install_probe.py").is_file()

    (installed.root / "source" / "classifier" / "install_probe.py").unlink()
    removed = installed.play()
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert recap(removed)["changed"] > 0
    assert not (package / "install_probe.py").exists()
    assert installed.python("-m", "classifier", "--help").returncode == 0


def test_a_source_without_the_package_is_named_in_the_failure(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    host = Host(tmp_path, empty)
    done = host.play()
    assert done.returncode != 0
    assert f"install_source: {json.dumps(str(empty))} is not the burst repository root" in (
        done.stdout
    ), done.stdout
    assert not host.prefix.exists()


def test_a_host_whose_python_the_bundle_lacks_names_both_versions(tmp_path):
    """Two hosts in check mode: this machine's Python, and one that says it is Python 3.10."""
    host = Host(tmp_path, copy_sources(tmp_path / "source"))
    old_python = tmp_path / "python3.10"
    said = {"python": "3.10", "machine": "x86_64", "glibc": "2.36", "installed": ""}
    old_python.write_text(f"#!/bin/sh\necho '{json.dumps(said)}'\n")
    old_python.chmod(0o755)
    inventory = yaml.safe_load((tmp_path / "inventory.yml").read_text())
    hosts = inventory["all"]["hosts"]
    hosts["old"] = {**hosts["target"], "install_python": str(old_python)}
    hosts["old"]["install_prefix"] += "-old"
    hosts["target"]["install_python"] = sys.executable
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "site.yml").write_text(PLAYBOOK.replace("hosts: target", "hosts: all"))
    done = host.play("--check")
    assert done.returncode != 0
    this = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert (
        f"old: Python 3.10 ({old_python}) cannot use the app bundle, which has the app for"
        f" Python {this}; burst needs Python >=3.11 (install_python)"
    ) in done.stdout, done.stdout
    assert re.search(r"^target\s+:.* failed=0 ", done.stdout, re.MULTILINE), done.stdout


def test_ansible_doc_documents_every_default(tmp_path):
    done = ansible(
        "ansible-doc",
        "--json",
        "-t",
        "role",
        "burst.cluster.install",
        cwd=tmp_path,
        timeout=60,
        ANSIBLE_CONFIG=REPO / "ansible.cfg",
        ANSIBLE_HOME=tmp_path / "ansible-home",
        ANSIBLE_LOCAL_TEMP=tmp_path / "ansible-tmp",
    )
    assert done.returncode == 0, done.stderr
    options = json.loads(done.stdout)["burst.cluster.install"]["entry_points"]["main"]["options"]
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert set(options) == set(defaults)
    for name, value in defaults.items():
        assert options[name]["description"], name
        assert options[name].get("default") == value, name
