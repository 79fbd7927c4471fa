"""Every workflow validates against GitHub's workflow schema, offline."""

import subprocess

import pytest
import yaml
from conftest import BIN
from workflow_files import WORKFLOWS, workflow, workflow_names


def check_jsonschema(path):
    return subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", path],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("name", workflow_names())
def test_the_workflow_matches_the_github_workflow_schema(name):
    done = check_jsonschema(WORKFLOWS / name)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_workflow_with_a_mistake_is_refused(tmp_path):
    broken = workflow("apply.yml")
    broken["jobs"]["run"]["timeout-minutes"] = "an hour"
    broken["concurrency"]["cancel-in-progress"] = "never"
    path = tmp_path / "apply.yml"
    path.write_text(yaml.safe_dump(broken))
    done = check_jsonschema(path)
    assert done.returncode != 0
    assert "timeout-minutes" in done.stdout + done.stderr


def test_there_are_the_three_workflows():
    assert workflow_names() == ["apply.yml", "ci.yml", "plan.yml"]
