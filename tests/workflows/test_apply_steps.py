"""apply.yml's steps that need no AWS, run in order with provider local, leave the artifact."""

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
from conftest import REPO, ansible_env, cluster_file, processes_with_env
from mermaid_xychart import blocks, validate
from workflow_files import cache_key, workflow

pytestmark = pytest.mark.slow

ROWS = "300"
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


class Workflow:
    """Just enough of GitHub's runner: expressions, conditions, step and job outputs."""

    def __init__(self, workspace, env):
        self.workspace, self.env = workspace, env
        self.values = {"inputs.rows": ROWS, "github.run_id": "1", "github.run_attempt": "1"}
        self.log, self.artifact, self.timeouts = [], None, {}

    def value(self, expression):
        expression = expression.strip()
        if expression == "always()":
            return True
        if match := re.fullmatch(r"fromJSON\((.+)\)", expression):
            return json.loads(self.value(match[1]))
        if match := re.fullmatch(r"(\S+) == '([^']*)'", expression):
            return self.value(match[1]) == match[2]
        if expression not in self.values:
            pytest.fail(f"this test does not know the expression {expression!r}")
        return self.values[expression]

    def render(self, text):
        return EXPRESSION.sub(lambda match: str(self.value(match[1])), str(text))

    def run_job(self, job_id, job):
        self.timeouts[job_id] = int(self.render(job["timeout-minutes"]))
        failed = False
        for step in job["steps"]:
            condition = step.get("if")
            if (failed and condition != "always()") or (condition and not self.value(condition)):
                self.log.append(("skipped", step.get("uses") or step["run"]))
                continue
            if "run" in step:
                failed |= not self.run_script(step)
            elif step["uses"].startswith("actions/upload-artifact@"):
                self.artifact = self.workspace / self.render(step["with"]["path"])
                self.log.append(("uploaded", step["with"]["path"]))
            elif step["uses"].startswith("actions/cache@"):
                key = cache_key(step["with"]["key"], self.workspace)
                self.log.append(("cache", step["with"]["path"], key))
            elif step["uses"].startswith("actions/checkout@"):
                self.log.append(("checked out", "the test's copy of the repository"))
            else:
                pytest.fail(f"step {step['uses']} would need AWS, but its condition let it run")
        for name, expression in job.get("outputs", {}).items():
            self.values[f"needs.{job_id}.outputs.{name}"] = self.render(expression)
        return not failed

    def run_script(self, step):
        outputs = self.workspace / ".github-output"
        outputs.write_text("")
        env = {k: self.render(v) for k, v in step.get("env", {}).items()}
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=self.workspace,
            env={**self.env, "GITHUB_OUTPUT": str(outputs), **env},
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.log.append((done.returncode, step["run"], done.stdout[-3000:] + done.stderr[-3000:]))
        for line in outputs.read_text().splitlines():
            name, _, value = line.partition("=")
            self.values[f"steps.{step.get('id')}.outputs.{name}"] = value
        return done.returncode == 0


def copy_of_the_repository(target):
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)


def test_apply_steps_without_aws_run_in_order_and_leave_the_artifact(tmp_path):
    # The copy's make uses the repository's .venv; were it not built for these inputs, that
    # make would rebuild it with burst installed from the copy, deleted after the test.
    ready = subprocess.run(["make", "-q", "venv"], cwd=REPO, capture_output=True, check=False)
    assert ready.returncode == 0, "the repository's .venv is not up to date: make venv first"
    workspace = tmp_path / "workspace"
    copy_of_the_repository(workspace)
    cluster_file(
        workspace,
        name="hourly",
        size=1,
        workers_per_host=2,
        source={"kind": "synthetic", "rows": 5000, "seed": 3},
        job={"slowness": 50},
    )
    state = workspace / ".burst"
    summary = tmp_path / "step-summary.md"
    env = ansible_env(
        VENV=REPO / ".venv", BURST_STATE_DIR=state, GITHUB_STEP_SUMMARY=summary, CI="true"
    )
    runner = Workflow(workspace, env)
    apply = workflow("apply.yml")
    try:
        for job_id in ("check", "run"):
            assert runner.run_job(job_id, apply["jobs"][job_id]), runner.log
    finally:
        leftovers = processes_with_env(f"BURST_STATE_DIR={state}")
    assert leftovers == []

    done = [entry[:2] for entry in runner.log]
    venv_keys = {entry[2] for entry in runner.log if entry[:2] == ("cache", ".venv")}
    assert len(venv_keys) == 1  # run restores what check built: one build per run
    assert done == [
        ("checked out", "the test's copy of the repository"),
        ("cache", ".venv"),
        (0, "make check"),
        ("checked out", "the test's copy of the repository"),
        ("cache", ".venv"),
        ("cache", ".burst/bundles"),
        ("skipped", "aws-actions/configure-aws-credentials@v4"),
        ("skipped", "pulumi/actions@v6"),
        (0, "make run"),
        (0, "make down"),
        ("uploaded", "output/"),
    ]
    assert runner.timeouts["run"] * 60 > 300 + 1200  # job.timeout (300 s), setup and teardown
    assert runner.value("needs.check.outputs.provider") == "local"
    assert not (state / "hourly" / "stack-outputs.json").exists()

    (run,) = [path for path in runner.artifact.iterdir() if path.is_dir()]
    for name in (
        "results.csv",
        "manifest.json",
        "results.tgz",
        "summary.md",
        "report.html",
        "timeline.json",
        "dask-report.html",
    ):
        assert (run / name).is_file(), name
    assert list(run.glob("logs/*/receiver.log"))
    manifest = json.loads((run / "manifest.json").read_text())
    assert (manifest["rows_in"], manifest["rows_out"], manifest["balanced"]) == (300, 300, True)
    results = pd.read_csv(run / "results.csv", dtype=str)
    assert len(results) == 300 and results["ID"].is_unique

    job_summary = summary.read_text()
    assert f"### burst run `{run.name}` of `hourly`: succeeded" in job_summary
    assert "| rows | 300 in, 300 out, 0 rejected (balanced) |" in job_summary
    assert job_summary.strip() == (run / "summary.md").read_text().strip()
    charts = [validate(body) for body in blocks(job_summary)]  # GitHub draws them from Mermaid
    assert [chart["title"] for chart in charts] == [
        "rows/s over the job (x: seconds since its start)",
        "wall time by phase (s)",
        "run time over the last 1 run(s) (s)",
    ]
    assert charts[2]["series"] == [("bar", [round(manifest["wall_seconds"], 1)])]
