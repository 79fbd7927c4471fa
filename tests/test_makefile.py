"""The Makefile's commands, as a person sees them."""

import os
import shutil
import subprocess
import time
from pathlib import Path

from conftest import REPO, ansible_env, cluster_file, makefile_ready


def test_the_echoed_command_shows_rows_and_base_expanded(tmp_path):
    path = cluster_file(tmp_path)
    shown = subprocess.run(
        ["make", "--no-print-directory", "preview", f"CLUSTER={path}"],
        cwd=REPO,
        env=ansible_env(ROWS="50", BASE=path, BURST_STATE_DIR=tmp_path / "state"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    command = (
        f"+ .venv/bin/ansible-playbook playbooks/site.yml --check -e cluster_file={path}"
        f" -e burst_rows=50 -e burst_base_file={path}\n"
    )
    assert command in shown.stdout + shown.stderr
    assert "${" not in shown.stdout + shown.stderr


def test_the_environment_is_rebuilt_only_when_its_inputs_change(tmp_path):
    """A fresh clone or a restored cache (same files, new mtimes) builds nothing; an edit does."""
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy(REPO / name, tmp_path / name)
    venv = tmp_path / "venv"

    def up_to_date() -> bool:
        asked = subprocess.run(["make", "-q", "venv", f"VENV={venv}"], cwd=tmp_path, timeout=60)
        assert asked.returncode in (0, 1)
        return asked.returncode == 0

    assert not up_to_date()
    venv.mkdir()
    Path(makefile_ready(tmp_path, venv)).touch()
    assert up_to_date()
    later = time.time() + 3600
    for name in ("pyproject.toml", "constraints.txt"):
        os.utime(tmp_path / name, (later, later))
    assert up_to_date()
    with open(tmp_path / "constraints.txt", "a") as constraints:
        constraints.write("six==1.17.0\n")
    assert not up_to_date()
