#!/usr/bin/python
"""burst.cluster.app_bundle: the one file, built on the controller, that installs the app."""

from __future__ import annotations

DOCUMENTATION = r"""
module: app_bundle
short_description: Build the burst app bundle that hosts install from without a package index
description:
  - Builds one tar file with the wheel of the app (C(classifier/)) and a wheel of every
    dependency it needs, at the version C(constraints.txt) pins, for each Python and
    platform of the hosts, and the wheel of pip to install them with. A host installs it
    with C(pip install --no-index), so it needs no route to a package index.
  - The file is named by a hash of C(constraints.txt), C(pyproject.toml), C(README.md),
    C(classifier/*.py) and the targets, and kept in O(dest), where a bundle already built is used
    as it is, so a second run builds nothing.
  - The wheels come from the controller's pip, with its configuration (index, mirror,
    cache); only the controller needs a package index.
  - A target whose Python the app does not support (its C(requires-python)) gets no wheels;
    RV(pythons) lists the versions that have them.
version_added: 0.1.0
author: burst (!UNKNOWN)
options:
  source:
    description:
      - The repository root, with C(pyproject.toml), C(README.md), C(constraints.txt)
        and C(classifier/).
    type: path
    required: true
  dest:
    description: The directory that keeps the bundles; made when missing.
    type: path
    required: true
  targets:
    description:
      - The hosts' Pythons and platforms, as the install role finds them.
      - Hosts that are alike share their wheels.
    type: list
    elements: dict
    required: true
    suboptions:
      python:
        description: The host's Python version, C(major.minor).
        type: str
        required: true
      machine:
        description: The host's machine, as C(platform.machine()) gives it (C(x86_64), C(aarch64)).
        type: str
        required: true
      glibc:
        description: The host's glibc version (C(2.36)); empty on a host without glibc.
        type: str
        default: ""
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode it says whether a bundle would be built, and builds nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Runs on the controller (C(delegate_to) localhost, C(run_once)), with its C(pip).
"""

EXAMPLES = r"""
- name: Build the app bundle for the hosts' Pythons
  burst.cluster.app_bundle:
    source: "{{ playbook_dir | dirname }}"
    dest: "{{ playbook_dir | dirname }}/.burst/bundles"
    targets:
      - {python: "3.11", machine: x86_64, glibc: "2.36"}
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
path:
  description: The bundle on the controller.
  returned: always
  type: str
  sample: /home/me/burst/.burst/bundles/burst-app-5f0c1e2d3a4b5c6d.tar
key:
  description: The hash that names the bundle; a host that installed it records it.
  returned: always
  type: str
pythons:
  description: The Python versions the bundle has wheels for.
  returned: always
  type: list
  elements: str
  sample: ["3.11"]
requires_python:
  description: The Python versions the app supports, from C(pyproject.toml).
  returned: always
  type: str
  sample: ">=3.11"
app:
  description: The file name of the app's own wheel in the bundle's C(wheels/).
  returned: always
  type: str
  sample: burst-0.1.0-py3-none-any.whl
pip:
  description:
    - The file name of pip's wheel in the bundle's C(wheels/), the controller's version of pip.
    - Hosts run pip from it (C(python wheels/pip-26.3-py3-none-any.whl/pip install ...)), so
      their virtual environments are made without pip.
  returned: always
  type: str
  sample: pip-26.3-py3-none-any.whl
"""

import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:  # ansible-core's own requirement: always there on the controller
    from packaging.specifiers import SpecifierSet
except ImportError:
    SpecifierSet = None

FORMAT = "burst app bundle 1"
ROOT_FILES = ("pyproject.toml", "README.md", "constraints.txt")
# manylinux names older than PEP 600, by the glibc minor version they stand for.
LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


def sources(root: Path) -> list[str]:
    """The files the app's wheel and its pins come from, relative to ``root``."""
    modules = sorted(p.name for p in (root / "classifier").glob("*.py"))
    return [*ROOT_FILES, *(f"classifier/{name}" for name in modules)]


def bundle_key(root: Path, files: list[str], targets: list[dict]) -> str:
    digest = hashlib.sha256(f"{FORMAT} {pip_requirement()}".encode())
    for name in files:
        digest.update(f"\n{name} {hashlib.sha256((root / name).read_bytes()).hexdigest()}".encode())
    digest.update(json.dumps(targets, sort_keys=True).encode())
    return digest.hexdigest()


def pip_requirement() -> str:
    """The pip the hosts install with, this controller's: run from its wheel in the bundle,
    so their virtual environments need no ensurepip."""
    return f"pip=={importlib.metadata.version('pip')}"


def platforms(machine: str, glibc: str) -> list[str]:
    """pip's --platform tags a host with this machine and glibc can install."""
    tags = []
    if glibc:
        major, minor = (int(part) for part in glibc.split(".")[:2])
        for known in range(minor, 4, -1) if major == 2 else []:
            tags.append(f"manylinux_2_{known}_{machine}")
            if known in LEGACY_MANYLINUX:
                tags.append(f"{LEGACY_MANYLINUX[known]}_{machine}")
    return [*tags, f"linux_{machine}"]


def pip(module: AnsibleModule, args: list, what: str) -> None:
    command = [sys.executable, "-m", "pip", *map(str, args), "--no-input"]
    rc, out, err = module.run_command(command + ["--disable-pip-version-check"])
    if rc != 0:
        last = "\n".join((err or out).strip().splitlines()[-5:])
        module.fail_json(msg=f"app bundle: {what} failed: {last}", cmd=command)


def build(module, root: Path, files: list[str], pythons: list[str], targets, path: Path) -> dict:
    """Write the bundle to ``path`` and return its index (bundle.json)."""
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=path.parent))
    try:
        for name in files:
            (work / "src" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, work / "src" / name)
        wheels = work / "wheels"
        app_wheel = ["wheel", "--quiet", "--no-deps", "--wheel-dir", wheels, work / "src"]
        pip(module, app_wheel, "the app's wheel")
        (app,) = [p.name for p in wheels.glob("*.whl")]
        pip(
            module,
            ["download", "--quiet", "--no-deps", "--dest", wheels, pip_requirement()],
            f"the wheel of {pip_requirement()}",
        )
        (pip_wheel,) = [p.name for p in wheels.glob("pip-*.whl")]
        for target in (t for t in targets if t["python"] in pythons):
            tags = platforms(target["machine"], target["glibc"])
            pip(
                module,
                ["download", "--quiet", "--only-binary=:all:", "--implementation=cp"]
                + ["--python-version", target["python"], *(f"--platform={tag}" for tag in tags)]
                + ["--dest", wheels]
                + ["--constraint", root / "constraints.txt", wheels / app],
                f"the wheels for Python {target['python']} on {target['machine']}"
                f" (glibc {target['glibc'] or 'none'})",
            )
        index = {"format": FORMAT, "pythons": pythons, "app": app, "pip": pip_wheel}
        (work / "bundle.json").write_text(json.dumps(index, indent=1))
        with tarfile.open(work / "bundle.tar", "w") as tar:
            tar.add(work / "bundle.json", "bundle.json")
            tar.add(wheels, "wheels")
        os.replace(work / "bundle.tar", path)  # whole or not at all, also with two runs at once
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return index


def main():
    module = AnsibleModule(
        argument_spec={
            "source": {"type": "path", "required": True},
            "dest": {"type": "path", "required": True},
            "targets": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "python": {"type": "str", "required": True},
                    "machine": {"type": "str", "required": True},
                    "glibc": {"type": "str", "default": ""},
                },
            },
        },
        supports_check_mode=True,
    )
    if SpecifierSet is None:
        module.fail_json(msg=missing_required_lib("packaging"))
    root, dest = Path(module.params["source"]), Path(module.params["dest"])
    missing = [name for name in ROOT_FILES if not (root / name).is_file()]
    if missing or not list((root / "classifier").glob("*.py")):
        module.fail_json(
            msg=f"source: {str(root)!r} is not the burst repository root; expected a"
            f" directory with {', '.join(ROOT_FILES)} and classifier/*.py"
        )
    targets = sorted({json.dumps(t, sort_keys=True) for t in module.params["targets"]})
    targets = [json.loads(t) for t in targets]
    if not targets:
        module.fail_json(msg="targets: [] names no host Python to build the app bundle for")
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    requires = project.get("requires-python", "")
    supported = SpecifierSet(requires)
    pythons = sorted({t["python"] for t in targets if supported.contains(t["python"] + ".0")})
    files = sources(root)
    key = bundle_key(root, files, targets)
    path = dest / f"burst-app-{key[:16]}.tar"
    result = {"path": str(path), "key": key[:16], "pythons": pythons, "requires_python": requires}
    if path.is_file():
        with tarfile.open(path) as tar:
            index = json.load(tar.extractfile("bundle.json"))
        module.exit_json(changed=False, app=index["app"], pip=index["pip"], **result)
    if module.check_mode or not pythons:
        module.exit_json(changed=bool(pythons), app="", pip="", **result)
    dest.mkdir(parents=True, exist_ok=True)
    index = build(module, root, files, pythons, targets, path)
    module.exit_json(changed=True, app=index["app"], pip=index["pip"], **result)


if __name__ == "__main__":
    main()
