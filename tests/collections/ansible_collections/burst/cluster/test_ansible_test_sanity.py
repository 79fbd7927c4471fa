"""ansible-test sanity passes on burst.cluster, and catches an argument spec that drifts from
the module's documentation.

It runs on a copy of the collection (ansible-test writes tests/output/ into the tree it tests),
with ``--local`` on this venv's Python. The tests that need packages get them in virtual
environments that ansible-test makes with pip, kept beside this venv (``.venv/ansible-test``)
so that only the first run waits for them. ansible-test starts each of those environments
with a pip it downloads from ci-files.testing.ansible.com; the script it caches for that is
written here instead, installing the same pip with the pip of this venv, so the same package
index serves every install.

Not run: import (the controller's plugins import the packages of the collection's
requirements.txt, jsonschema, PyYAML, Pulumi and the burst app, which its bare environment
lacks), pylint (Ansible's profile refuses ``_`` as a name and ``type(x) is bool``, which
burst's loader uses to tell a boolean from an integer; ruff lints every Python file of burst),
changelog (the collection is not published; burst's git log is its history), pslint and
shellcheck (no PowerShell or shell files).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from ansible_test._internal.python_requirements import get_venv_packages
from conftest import BIN, REPO, ansible_env

pytestmark = pytest.mark.slow

COLLECTION = REPO / "collections" / "ansible_collections" / "burst" / "cluster"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
TESTS = [
    "action-plugin-docs",
    "ansible-doc",
    "compile",
    "empty-init",
    "ignores",
    "line-endings",
    "no-assert",
    "no-get-exception",
    "no-illegal-filenames",
    "no-smart-quotes",
    "pep8",
    "replace-urlopen",
    "runtime-metadata",
    "shebang",
    "symlinks",
    "use-argspec-type-path",
    "use-compat-six",
    "validate-modules",
    "yamllint",
]
PIP_BOOTSTRAP = """\
import subprocess
import sys

GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")
options = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
pip = [{python!r}, "-m", "pip", "--python", sys.executable, "install", "--quiet"]
sys.exit(subprocess.call([*pip, *options]))
"""


@pytest.fixture(scope="module")
def home() -> Path:
    """ansible-test's home: its virtual environments, and the pip it starts them with."""
    home = BIN.parent / "ansible-test"
    pip = get_venv_packages(types.SimpleNamespace(version=PYTHON))["pip"]
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    bootstrap = cache / f"get_pip_{pip.replace('.', '_')}.py"
    bootstrap.write_text(PIP_BOOTSTRAP.format(python=sys.executable), encoding="utf-8")
    return home


def copy_collection(tmp_path: Path) -> Path:
    copy = tmp_path / "ansible_collections" / "burst" / "cluster"
    shutil.copytree(COLLECTION, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def sanity(collection: Path, home: Path, *tests: str) -> subprocess.CompletedProcess:
    chosen = [option for test in tests for option in ("--test", test)]
    return subprocess.run(
        [str(BIN / "ansible-test"), "sanity", "--local", "--python", PYTHON, *chosen],
        cwd=collection,
        env=ansible_env(HOME=home),
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_sanity_passes(tmp_path, home):
    done = sanity(copy_collection(tmp_path), home, *TESTS)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for test in TESTS:
        assert f'Running sanity test "{test}"' in output


def test_validate_modules_catches_a_spec_that_drifts_from_the_docs(tmp_path, home):
    collection = copy_collection(tmp_path)
    module = collection / "plugins" / "modules" / "config.py"
    text = module.read_text(encoding="utf-8")
    drifted = text.replace('    "overrides": {"type": "dict", "default": {}},\n', "")
    assert drifted != text
    module.write_text(drifted, encoding="utf-8")
    done = sanity(collection, home, "validate-modules")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "plugins/modules/config.py:0:0: nonexistent-parameter-documented" in output
    assert "'overrides'" in output
