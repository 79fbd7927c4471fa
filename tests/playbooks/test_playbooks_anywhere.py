"""The playbooks run by the venv's ansible-playbook from any directory, without make or
ANSIBLE_CONFIG: the collection, the hosts, the state, the lock and the results are those
of `make run`."""

import json
import os

import pytest
import yaml
from conftest import REPO, ansible, cluster_file

from classifier import watchdog


def playbook(name, cwd, path):
    """``name`` of playbooks/ from ``cwd``, about the cluster file ``path`` as given."""
    return ansible(
        "ansible-playbook",
        os.path.relpath(REPO / "playbooks" / name, cwd),
        "-e",
        f"cluster_file={path}",
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def job(tmp_path):
    """A cluster file in a directory of its own, and a directory elsewhere to run from."""
    (tmp_path / "job").mkdir()
    (tmp_path / "elsewhere").mkdir()
    return cluster_file(tmp_path / "job", source={"kind": "synthetic", "rows": 300, "seed": 2})


@pytest.mark.slow
@pytest.mark.parametrize("where", ["playbooks", "cluster file's directory", "elsewhere"])
def test_site_runs_from_any_directory_as_make_run_does(job, where):
    cwd = {
        "playbooks": REPO / "playbooks",
        "cluster file's directory": job.parent,
        "elsewhere": job.parent.parent / "elsewhere",
    }[where]
    path = os.path.relpath(job, cwd)
    ran = playbook("site.yml", cwd, path)
    assert ran.returncode == 0, ran.stdout + ran.stderr

    (run,) = (job.parent / "output").iterdir()
    assert len((run / "results.csv").read_text().splitlines()) == 301
    assert json.loads((run / "manifest.json").read_text())["rows_in"] == 300
    dashboard = yaml.safe_load(job.read_text())["ports"]["dashboard"]
    url = f"http://127.0.0.1:{dashboard}/status"
    assert f"Dask dashboard, once the scheduler is up: {url}" in ran.stdout
    assert "s of job time, " in ran.stdout
    assert "s in all; cost $0 (provider local: no cloud machine); results in " in ran.stdout
    assert "| wall time | " in (run / "summary.md").read_text()
    # The state was beside the cluster file, and the run left nothing of it.
    assert sorted(p.name for p in (job.parent / ".burst").rglob("*")) == ["e2e"]
    assert not (REPO / "playbooks" / ".burst").exists()
    assert not (job.parent.parent / "elsewhere" / ".burst").exists()


def test_the_lock_is_the_clusters_from_any_directory(job):
    lock = job.parent / ".burst" / "e2e" / "run.lock"
    lock.parent.mkdir(parents=True)
    held = {
        "controller": watchdog.controller_id(os.getpid()),
        "run_id": "20260101T000000Z-ab12",
        "cluster": "e2e",
        "started_at": "2026-01-01T00:00:00Z",
    }
    lock.write_text(json.dumps(held))
    for name, cwd in (("site.yml", REPO / "playbooks"), ("down.yml", job.parent)):
        refused = playbook(name, cwd, os.path.relpath(job, cwd))
        assert refused.returncode != 0
        assert "cluster 'e2e' is already running: run 20260101T000000Z-ab12" in refused.stdout
    assert json.loads(lock.read_text()) == held


def test_down_from_the_cluster_files_directory_says_when_nothing_was_up(job):
    done = playbook("down.yml", job.parent, job.name)
    assert done.returncode == 0, done.stdout + done.stderr
    state = job.parent / ".burst" / "e2e"
    assert f"cluster e2e: nothing was up (no stack outputs in {state})" in done.stdout
    assert "changed=0" in done.stdout
