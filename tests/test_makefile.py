"""The Makefile's commands, as a person sees them."""

import subprocess

from conftest import REPO, ansible_env, cluster_file


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
