"""The workflows run only what a person runs: commands the README gives, on Makefile targets."""

import pytest
from workflow_files import (
    makefile_targets,
    readme_commands,
    undefined_commands,
    workflow,
    workflow_names,
)


def run_steps() -> list:
    return [
        pytest.param(step, id=f"{name}:{job_id}:{step['run']}")
        for name in workflow_names()
        for job_id, job in workflow(name)["jobs"].items()
        for step in job["steps"]
        if "run" in step
    ]


@pytest.mark.parametrize("step", run_steps())
def test_a_step_runs_a_command_the_readme_and_the_makefile_define(step):
    assert undefined_commands(step["run"], readme_commands(), makefile_targets()) == []


@pytest.mark.parametrize("step", run_steps())
def test_a_step_takes_inputs_from_its_environment_never_from_expressions_in_the_script(step):
    assert "${{" not in step["run"]


def test_the_workflows_check_preview_run_tear_down_and_test():
    scripts = {param.values[0]["run"] for param in run_steps()}
    assert scripts == {
        "make check",
        "make preview BASE=.burst/base/cluster.yaml",
        "make run",
        "make down",
        "sudo make test",
    }


@pytest.mark.parametrize(
    "script",
    ["pip install ansible", "make run && curl https://example.com", "make deploy", "sudo make run"],
)
def test_a_command_the_readme_does_not_give_is_caught(script):
    readme, targets = {"make run", "sudo make test"}, {"run", "test"}
    assert undefined_commands(script, readme, targets) == [script]


def test_make_variables_on_a_readme_command_are_allowed():
    readme, targets = {"make preview"}, {"preview"}
    assert undefined_commands("make preview BASE=.burst/base/cluster.yaml", readme, targets) == []
