"""`make report`: playbooks/report.yml writes history.html of a cluster's runs, says how many
and what it skipped; the plan of a change carries the last runs' times as a Mermaid chart."""

import json
import re
import subprocess

from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import load_cluster_file
from conftest import REPO, ansible, ansible_env, cluster_file
from mermaid_xychart import blocks, validate
from run_manifests import RUNS, manifest, write_runs


def make_report(path, tmp_path):
    """`make report CLUSTER=path`; its output with each run of white space one space, as
    Ansible folds long lines."""
    done = subprocess.run(
        ["make", "--no-print-directory", "report", f"CLUSTER={path}"],
        cwd=REPO,
        env=ansible_env(BURST_STATE_DIR=tmp_path / "state"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    done.stdout = " ".join(done.stdout.split())
    return done


def test_make_report_without_runs_says_so(tmp_path):
    path = cluster_file(tmp_path)
    done = make_report(path, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    page = tmp_path / "output" / "history.html"
    assert f"{page}: no run of e2e in output yet" in done.stdout
    assert '<p id="no-runs">' in page.read_text()
    assert f"+ .venv/bin/ansible-playbook playbooks/report.yml -e cluster_file={path}" in (
        done.stdout + done.stderr
    )


def test_make_report_draws_every_run_and_names_what_it_skipped(tmp_path):
    path = cluster_file(tmp_path)
    write_runs(tmp_path / "output", load_cluster_file(path) | {"name": "e2e"})
    (tmp_path / "output" / "20261201T170000Z-hhhh").mkdir()  # no manifest collected

    done = make_report(path, tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{tmp_path / 'output' / 'history.html'}: 4 run(s) of e2e" in done.stdout
    skipped = re.findall(r"- '?skipped (\S+)/manifest.json: ", done.stdout)
    assert [run.rsplit("/", 1)[1] for run in skipped] == [
        "20261201T150000Z-ffff",
        "20261201T140000Z-eeee",
        "20261201T130000Z-dddd",
    ]
    assert "Traceback" not in done.stdout + done.stderr
    page = (tmp_path / "output" / "history.html").read_text()
    assert page.count('<tr class="') == 4 and '<tr class="uncollected">' in page


def test_make_report_of_an_invalid_cluster_file_names_the_field(tmp_path):
    path = cluster_file(tmp_path, results={"history": 0})
    done = make_report(path, tmp_path)
    assert done.returncode != 0
    assert "results.history" in done.stdout and "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "output").exists()


def test_the_plan_carries_the_run_time_of_the_last_runs(tmp_path):
    path = cluster_file(tmp_path, job={"deadline": "1m"})
    config = load_cluster_file(path)
    for number, run_id in enumerate(RUNS):
        (tmp_path / "output" / run_id).mkdir(parents=True)
        written = manifest(config, run_id, wall=20.0 + number, **RUNS[run_id])
        (tmp_path / "output" / run_id / "manifest.json").write_text(json.dumps(written))
    play = [
        {
            "name": "Plan",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Write the plan",
                    "burst.cluster.report": {
                        "kind": "plan",
                        "cluster_file": str(path),
                        "dest": str(tmp_path / "plan.md"),
                    },
                }
            ],
        }
    ]
    (tmp_path / "plan.yml").write_text(json.dumps(play))
    done = ansible(
        "ansible-playbook", tmp_path / "plan.yml", cwd=REPO, ANSIBLE_CONFIG=REPO / "ansible.cfg"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    charts = [validate(body) for body in blocks((tmp_path / "plan.md").read_text())]
    assert [chart["title"] for chart in charts] == [
        "a run at most (minutes)",
        "run time over the last 3 run(s) (s); line: job.deadline 60 s",
    ]
    assert charts[1]["series"] == [("bar", [20.0, 21.0, 22.0]), ("line", [60.0] * 3)]
    assert charts[1]["categories"][2] == '"12-01 12:00 partial"'
