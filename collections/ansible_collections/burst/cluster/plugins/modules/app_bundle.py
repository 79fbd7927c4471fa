#!/usr/bin/python
"""burst.cluster.app_bundle: the app, installed once on the controller for every kind of host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: app_bundle
short_description: Build the burst app bundle that hosts unpack, with no package index and no pip
description:
  - Installs the app (C(classifier/)) and every dependency it needs, at the version
    C(constraints.txt) pins, once for each Python and platform of the hosts, with the
    controller's C(pip install --target) and wheels only. Each install is one C(.tar.gz) of a
    C(site-packages) directory. A host unpacks it into a new virtual environment, so it
    needs no route to a package index and runs no installer.
  - When the controller has the target's Python version and machine, the tree also holds the
    bytecode of every module the app's processes import (C(python -m classifier), the Dask
    scheduler and worker), checked against its source by hash, so that no process on a
    fresh host spends its start compiling. For other targets the hosts compile at first import.
  - The bundle, a directory with C(bundle.json) and one tree per target, is named by a hash of
    C(constraints.txt), C(pyproject.toml), C(README.md), C(classifier/*.py), the targets and
    the controller's pip and Python, and kept in O(dest), where a bundle already built is used
    as it is, so a second run builds nothing.
  - The packages come from the controller's pip, with its configuration (index, mirror,
    cache); only the controller needs a package index.
  - A target whose Python the app does not support (its C(requires-python)) gets no tree;
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
      - Hosts that are alike share their tree.
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
  description: The bundle, a directory on the controller.
  returned: always
  type: str
  sample: /home/me/burst/.burst/bundles/burst-app-5f0c1e2d3a4b5c6d
key:
  description: The hash that names the bundle; a host that installed it records it.
  returned: always
  type: str
pythons:
  description: The Python versions the bundle has trees for.
  returned: always
  type: list
  elements: str
  sample: ["3.11"]
requires_python:
  description: The Python versions the app supports, from C(pyproject.toml).
  returned: always
  type: str
  sample: ">=3.11"
trees:
  description:
    - One per target of a supported Python, the target with the path of its tree (a
      C(.tar.gz) of C(site-packages)) and how many modules in it are compiled.
    - In check mode, and before the bundle is built, the paths it would have.
  returned: always
  type: list
  elements: dict
  sample:
    - {python: "3.11", machine: x86_64, glibc: "2.36", compiled: 1160,
       path: /home/me/burst/.burst/bundles/burst-app-5f0c1e2d3a4b5c6d/cp311-x86_64-glibc2.36.tar.gz}
"""

import hashlib
import importlib.metadata
import json
import platform
import py_compile
import shutil
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path, PurePosixPath

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:  # ansible-core's own requirement: always there on the controller
    from packaging.specifiers import SpecifierSet
except ImportError:
    SpecifierSet = None

FORMAT = "burst app bundle 2"
ROOT_FILES = ("pyproject.toml", "README.md", "constraints.txt")
# What the app's processes import, beside every module of the classifier package: the Dask
# scheduler and worker that python -m classifier starts, with their dashboards and HTTP routes
# (bokeh), and what the source's Dask performance report and the workers' CSV writing load.
PRELOADED = (
    "distributed.cli.dask_scheduler",
    "distributed.cli.dask_worker",
    "distributed.dashboard.scheduler",
    "distributed.dashboard.worker",
    "distributed.diagnostics.websocket",
    "distributed.http.health",
    "distributed.http.proxy",
    "distributed.http.statics",
    "distributed.http.scheduler.info",
    "distributed.http.scheduler.json",
    "distributed.http.scheduler.prometheus",
    "distributed.http.worker.prometheus",
    "dask.distributed",
    "fsspec.implementations.local",
    "pandas.io.formats.csvs",
    "tornado.platform.asyncio",
    "bokeh.embed",
    "bokeh.io",
    "bokeh.layouts",
    "bokeh.plotting",
    "bokeh.server.server",
)
# Run by the controller's Python, isolated, with the tree first on its path: prints the
# tree's source files that importing the app loads.
IMPORTED_FILES = """
import importlib, json, pkgutil, sys
tree = sys.argv[1]
sys.path.insert(0, tree)
import classifier
own = [f"classifier.{m.name}" for m in pkgutil.iter_modules(classifier.__path__)]
for name in own + sys.argv[2:]:
    importlib.import_module(name)
files = {getattr(m, "__file__", None) or "" for m in list(sys.modules.values())}
print(json.dumps(sorted(f for f in files if f.startswith(tree + "/") and f.endswith(".py"))))
"""
# The Python the bundle is built (and its bytecode compiled) with, major.minor.
CONTROLLER_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# manylinux names older than PEP 600, by the glibc minor version they stand for.
LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


def sources(root: Path) -> list[str]:
    """The files the app's wheel and its pins come from, relative to ``root``."""
    modules = sorted(p.name for p in (root / "classifier").glob("*.py"))
    return [*ROOT_FILES, *(f"classifier/{name}" for name in modules)]


def bundle_key(root: Path, files: list[str], targets: list[dict]) -> str:
    builder = f"pip {importlib.metadata.version('pip')}, Python {CONTROLLER_PYTHON}"
    digest = hashlib.sha256(f"{FORMAT} {builder}".encode())
    for name in files:
        digest.update(f"\n{name} {hashlib.sha256((root / name).read_bytes()).hexdigest()}".encode())
    digest.update(json.dumps(targets, sort_keys=True).encode())
    return digest.hexdigest()


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


def tree_name(target: dict) -> str:
    glibc = f"glibc{target['glibc']}" if target["glibc"] else "noglibc"
    return f"cp{target['python'].replace('.', '')}-{target['machine']}-{glibc}.tar.gz"


def shipped(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """A file of the tree as the hosts get it: owned by nobody in particular, and without the
    packages' own test suites (pandas/tests, numpy/_core/tests, …), which the app never
    imports: an eighth of the bytes a fresh host writes."""
    if "tests" in PurePosixPath(member.name).parts[1:]:
        return None
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


def precompile(module: AnsibleModule, tree: Path, target: dict) -> int:
    """Compile the modules the app's processes import, as the host's Python will find them:
    their bytecode, checked against their source by hash, so that no process on a fresh host
    compiles them itself. Only a controller of the target's Python and machine can import the
    tree to find them; for other targets the hosts compile at first import."""
    if target["python"] != CONTROLLER_PYTHON or target["machine"] != platform.machine():
        return 0
    command = [sys.executable, "-I", "-S", "-B", "-c", IMPORTED_FILES, str(tree), *PRELOADED]
    rc, out, err = module.run_command(command)
    if rc != 0:
        module.warn(
            f"app bundle: no bytecode for {tree_name(target)}: {err.strip().splitlines()[-1:]}"
        )
        return 0
    files = json.loads(out)
    for name in files:
        py_compile.compile(
            name, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
        )
    return len(files)


def build(module, root: Path, files: list[str], pythons: list[str], targets, path: Path) -> dict:
    """Write the bundle, a directory, to ``path`` and return its index (bundle.json)."""
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=path.parent))
    try:
        for name in files:
            (work / "src" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, work / "src" / name)
        wheels = work / "wheels"
        app_wheel = ["wheel", "--quiet", "--no-deps", "--wheel-dir", wheels, work / "src"]
        pip(module, app_wheel, "the app's wheel")
        (app,) = wheels.glob("*.whl")
        out = work / "bundle"
        out.mkdir()
        built = {}
        for target in targets:
            tree = work / "tree"
            tags = platforms(target["machine"], target["glibc"])
            pip(
                module,
                ["install", "--quiet", "--no-compile", "--target", tree, "--only-binary=:all:"]
                + ["--implementation=cp", "--python-version", target["python"]]
                + [f"--platform={tag}" for tag in tags]
                + ["--constraint", root / "constraints.txt", app],
                f"the app for Python {target['python']} on {target['machine']}"
                f" (glibc {target['glibc'] or 'none'})",
            )
            shutil.rmtree(tree / "bin", ignore_errors=True)  # scripts for this controller's paths
            compiled = precompile(module, tree, target)
            with tarfile.open(out / tree_name(target), "w:gz", compresslevel=1) as tar:
                tar.add(tree, ".", filter=shipped)
            shutil.rmtree(tree)
            built[tree_name(target)] = {**target, "compiled": compiled}
        index = {"format": FORMAT, "pythons": pythons, "trees": built}
        (out / "bundle.json").write_text(json.dumps(index, indent=1))
        try:
            out.rename(path)  # whole or not at all
        except OSError:
            if not (path / "bundle.json").is_file():  # not another run's, built at the same time
                raise
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
    path = dest / f"burst-app-{key[:16]}"
    result = {"path": str(path), "key": key[:16], "pythons": pythons, "requires_python": requires}
    supported_targets = [t for t in targets if t["python"] in pythons]
    if (path / "bundle.json").is_file():
        index = json.loads((path / "bundle.json").read_text())
        module.exit_json(changed=False, trees=tree_paths(path, supported_targets, index), **result)
    if module.check_mode or not pythons:
        module.exit_json(
            changed=bool(pythons), trees=tree_paths(path, supported_targets, {}), **result
        )
    dest.mkdir(parents=True, exist_ok=True)
    index = build(module, root, files, pythons, supported_targets, path)
    module.exit_json(changed=True, trees=tree_paths(path, supported_targets, index), **result)


def tree_paths(path: Path, targets: list[dict], index: dict) -> list[dict]:
    """Each target with the path of its tree and, once built, how many modules it compiled."""
    built = index.get("trees", {})
    return [
        {
            **t,
            "path": str(path / tree_name(t)),
            "compiled": built.get(tree_name(t), {}).get("compiled", 0),
        }
        for t in targets
    ]


if __name__ == "__main__":
    main()
