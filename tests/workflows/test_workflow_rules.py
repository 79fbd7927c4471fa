"""What the workflows promise: when they run, with which rights, and that teardown always runs."""

import re
import shutil

from ansible_collections.burst.cluster.plugins.modules import app_bundle
from conftest import REPO
from workflow_files import cache_key, cache_steps, workflow, workflow_names

WATCHED = ["cluster.yaml", "collections/**", "playbooks/**"]


def steps_using(job, action):
    return [step for step in job["steps"] if step.get("uses", "").startswith(action + "@")]


def step_running(job, script):
    (step,) = [step for step in job["steps"] if step.get("run", "").startswith(script)]
    return step


def test_apply_runs_on_a_change_on_main_every_hour_on_the_hour_and_by_hand():
    on = workflow("apply.yml")["on"]
    assert on["push"] == {"branches": ["main"], "paths": WATCHED}
    assert on["schedule"] == [{"cron": "0 * * * *"}]
    rows = on["workflow_dispatch"]["inputs"]["rows"]
    assert rows["required"] is False and rows["default"] == ""


def test_apply_runs_one_at_a_time_and_never_cancels_a_running_one():
    concurrency = workflow("apply.yml")["concurrency"]
    assert concurrency["cancel-in-progress"] is False
    assert "github.ref" not in concurrency["group"]  # one group whatever started the run


def test_apply_has_least_privilege_and_no_stored_keys():
    apply = workflow("apply.yml")
    assert apply["permissions"] == {"contents": "read"}
    assert "permissions" not in apply["jobs"]["check"]
    assert apply["jobs"]["run"]["permissions"] == {"contents": "read", "id-token": "write"}
    (aws,) = steps_using(apply["jobs"]["run"], "aws-actions/configure-aws-credentials")
    assert aws["with"]["role-to-assume"] == "${{ vars.BURST_AWS_ROLE_ARN }}"
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(aws["with"])
    assert "secrets." not in str(apply)


def test_apply_tears_down_and_keeps_the_output_whatever_happened():
    job = workflow("apply.yml")["jobs"]["run"]
    scripts = [step.get("run") for step in job["steps"] if "run" in step]
    assert scripts == ["make run", "make down"]
    assert step_running(job, "make down").get("if") == "always()"
    (upload,) = steps_using(job, "actions/upload-artifact")
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "output/"
    assert job["steps"].index(upload) > job["steps"].index(step_running(job, "make down"))


def test_apply_times_out_after_the_longest_run_the_cluster_file_allows():
    apply = workflow("apply.yml")
    check, run = apply["jobs"]["check"], apply["jobs"]["run"]
    assert run["needs"] == "check"
    assert run["timeout-minutes"] == "${{ fromJSON(needs.check.outputs.timeout_minutes) }}"
    assert check["outputs"]["timeout_minutes"] == "${{ steps.check.outputs.timeout_minutes }}"
    assert step_running(check, "make check")["id"] == "check"


def test_aws_steps_run_only_for_provider_aws():
    job = workflow("apply.yml")["jobs"]["run"]
    for action in ("aws-actions/configure-aws-credentials", "pulumi/actions"):
        (step,) = steps_using(job, action)
        assert step["if"] == "needs.check.outputs.provider == 'aws'"


def test_plan_previews_a_pull_request_and_keeps_one_comment_up_to_date():
    plan = workflow("plan.yml")
    assert plan["on"] == {"pull_request": {"paths": WATCHED}}
    assert plan["permissions"] == {"contents": "read"}
    job = plan["jobs"]["preview"]
    assert job["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "pull-requests": "write",
    }
    base = [step for step in steps_using(job, "actions/checkout") if "with" in step]
    assert base[0]["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    preview = step_running(job, "make preview")
    assert preview["run"] == f"make preview BASE={base[0]['with']['path']}/cluster.yaml"
    (comment,) = steps_using(job, "marocchino/sticky-pull-request-comment")
    assert comment["if"] == "always()"  # an invalid file fails the step, the comment says why
    # the plan is where the preview says (GITHUB_OUTPUT plan): .burst/<name>/plan.md
    plan_path = f"${{{{ steps.{preview['id']}.outputs.plan }}}}"
    assert comment["with"] == {"header": "burst-plan", "path": plan_path}
    assert job["steps"].index(comment) > job["steps"].index(preview)


def test_ci_checks_lints_and_tests_every_push_and_pull_request():
    ci = workflow("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    assert ci["permissions"] == {"contents": "read"}
    scripts = [step["run"] for step in ci["jobs"]["test"]["steps"] if "run" in step]
    assert scripts == ["make check", "sudo make test"]


def jobs_running_make():
    return [
        (name, job_id, job)
        for name in workflow_names()
        for job_id, job in workflow(name)["jobs"].items()
        if any("make " in step.get("run", "") for step in job["steps"])
    ]


def workspace_copy(target, names):
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, target / name)
    return target


def test_every_job_that_runs_make_restores_the_environment_before_it():
    for name, job_id, job in jobs_running_make():
        steps = job["steps"]
        (restore,) = [s for s in steps_using(job, "actions/cache") if s["with"]["path"] == ".venv"]
        first_make = next(s for s in steps if "make " in s.get("run", ""))
        assert steps.index(restore) < steps.index(first_make), (name, job_id)
        assert restore["with"]["key"].startswith(f"venv-{job['runs-on']}-"), (name, job_id)


def test_the_environment_key_changes_with_what_the_makefile_builds_it_from(tmp_path):
    """The key hashes the files the Makefile's stamp hashes: same files, same key, one build."""
    inputs = re.search(r"^INPUTS := .*for f in \(([^)]*)\)", (REPO / "Makefile").read_text(), re.M)
    makefile_inputs = re.findall(r'"([^"]+)"', inputs[1])
    assert makefile_inputs == ["pyproject.toml", "constraints.txt"]
    keys = {cache_steps(job)[".venv"] for _, _, job in jobs_running_make()}
    assert len(keys) == 1  # apply's check and run jobs share it: run restores what check built
    (key,) = keys
    workspace = workspace_copy(tmp_path, [*makefile_inputs, "README.md", "cluster.yaml"])
    before = cache_key(key, workspace)
    (workspace / "README.md").write_text("changed\n")
    (workspace / "cluster.yaml").write_text("changed: true\n")
    assert cache_key(key, workspace) == before
    for name in makefile_inputs:
        (workspace / name).write_text((REPO / name).read_text() + "\n# changed\n")
        assert cache_key(key, workspace) != before, name
        before = cache_key(key, workspace)


def test_apply_restores_the_app_bundle_keyed_by_every_file_it_is_built_from(tmp_path):
    key = cache_steps(workflow("apply.yml")["jobs"]["run"])[".burst/bundles"]
    sources = app_bundle.sources(REPO)
    assert "classifier/__init__.py" in sources
    workspace = workspace_copy(tmp_path, [*sources, "cluster.yaml"])
    before = cache_key(key, workspace)
    for name in [*sources, "cluster.yaml"]:  # cluster.yaml: the hosts' image, so their Python
        (workspace / name).write_text((REPO / name).read_text() + "\n# changed\n")
        assert cache_key(key, workspace) != before, name
        before = cache_key(key, workspace)
