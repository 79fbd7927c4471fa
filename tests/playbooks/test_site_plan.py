"""site.yml --check end to end: the plan it writes, and that it starts nothing."""

import pytest
import yaml
from conftest import cluster_file, processes_with_env
from site_runs import site

pytestmark = pytest.mark.slow


def base_and_new(tmp_path, base, new):
    """Cluster files in base/ and new/ that differ by the overrides ``base`` and ``new`` only."""
    (tmp_path / "base").mkdir()
    (tmp_path / "new").mkdir()
    base_path = cluster_file(tmp_path / "base", **base)
    ports = yaml.safe_load(base_path.read_text())["ports"]
    return base_path, cluster_file(tmp_path / "new", ports=ports, **new)


def test_check_mode_writes_the_plan_of_a_size_change_and_starts_nothing(tmp_path, state_dir):
    base, new = base_and_new(tmp_path, {"size": 1}, {"size": 2})
    summary, outputs = tmp_path / "step_summary.md", tmp_path / "step_outputs"
    summary.write_text("earlier step\n")
    outputs.write_text("")
    result = site(
        new,
        state_dir,
        "--check",
        "-e",
        f"burst_base_file={base}",
        GITHUB_STEP_SUMMARY=summary,
        GITHUB_OUTPUT=outputs,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    plan = (state_dir / "e2e" / "plan.md").read_text()
    assert outputs.read_text() == f"plan={state_dir / 'e2e' / 'plan.md'}\n"
    assert plan.startswith("### burst plan for `e2e`\n\n| | before | after |\n")
    size = "| size | 1 machine(s) × 1 worker(s) | 2 machine(s) × 1 worker(s) **(changed)** |\n"
    assert size in plan
    assert plan.count("(changed)") == 1
    assert "\nChanged: `size`.\n" in plan
    assert "\n**Resources:** none; provider `local` makes no cloud resource.\n" in plan
    assert "preview failed" not in plan
    assert summary.read_text() == "earlier step\n" + plan + "\n"
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
    assert not (tmp_path / "new" / "output").exists()
    assert not (tmp_path / "base" / "output").exists()
    assert not list(state_dir.glob("*/runs/*"))


def test_check_mode_without_a_base_writes_a_one_column_plan(tmp_path, state_dir):
    result = site(cluster_file(tmp_path), state_dir, "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr
    provision = result.stdout.split("TASK [Provision the machines and write the stack outputs]")[1]
    assert provision.split("\n")[1] == "ok: [localhost]"
    plan = (state_dir / "e2e" / "plan.md").read_text()
    assert "| | |\n| --- | --- |\n| provider | local |\n" in plan
    assert "before" not in plan
    assert not (tmp_path / "output").exists()


def test_an_invalid_file_fails_the_preview_and_the_plan_quotes_the_loader(tmp_path, state_dir):
    path, outputs = cluster_file(tmp_path, size=0), tmp_path / "step_outputs"
    outputs.write_text("")
    result = site(
        path,
        state_dir,
        "--check",
        GITHUB_STEP_SUMMARY=tmp_path / "summary.md",
        GITHUB_OUTPUT=outputs,
    )
    assert result.returncode != 0
    assert "the preview failed" in result.stdout
    assert "size: 0 — must be an integer from 1 to 64" in result.stdout
    plan = (state_dir / "plan.md").read_text()  # no name to keep it under
    assert outputs.read_text() == f"plan={state_dir / 'plan.md'}\n"
    assert plan.startswith("### burst plan: the cluster file is invalid\n")
    assert (
        ": invalid cluster file:\nsize: 0 — must be an integer from 1 to 64 or 'auto'\n```\n"
        in plan
    )
    assert "Cost" not in plan and "Resources" not in plan
    assert (tmp_path / "summary.md").read_text() == plan + "\n"
    quoted = plan.split("```\n")[1].splitlines()[0]
    assert quoted.endswith("cluster.yaml: invalid cluster file:"), quoted
    assert not quoted.startswith("/"), quoted
    assert str(tmp_path) not in plan, plan
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []


def test_burst_rows_overrides_the_source_rows_in_the_plan(tmp_path, state_dir):
    path = cluster_file(tmp_path)  # 3000 rows
    result = site(path, state_dir, "--check", "-e", "burst_rows=50")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rows=50," in result.stdout  # what check mode shows of the run
    plan = (state_dir / "e2e" / "plan.md").read_text()
    assert "| source | synthetic (50 rows, seed 11) |\n" in plan, plan
    assert "3000" not in plan


def test_burst_rows_that_is_not_a_number_fails_naming_the_field(tmp_path, state_dir):
    path = cluster_file(tmp_path)
    result = site(path, state_dir, "--check", "-e", "burst_rows=abc")
    assert result.returncode != 0
    assert "the preview failed" in result.stdout
    assert "source.rows: 'abc' — must be an integer" in result.stdout
    plan = (state_dir / "plan.md").read_text()
    assert "source.rows: 'abc' — must be an integer" in plan
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []


def test_burst_rows_with_a_file_source_fails_naming_rows(tmp_path, state_dir):
    rows = tmp_path / "rows.csv"
    rows.write_text("id,text\n1,a\n")
    path = cluster_file(tmp_path, source={"kind": "file", "path": "rows.csv"})
    result = site(path, state_dir, "--check", "-e", "burst_rows=100")
    assert result.returncode != 0
    assert "source.rows: unknown key" in result.stdout
    assert (
        "source.rows is burst_rows=100 from the command line (make ROWS=100),"
        " which only a synthetic source takes"
    ) in result.stdout


def test_a_base_file_that_does_not_exist_is_named(tmp_path, state_dir):
    missing = tmp_path / "old" / "cluster.yaml"
    result = site(cluster_file(tmp_path), state_dir, "--check", "-e", f"burst_base_file={missing}")
    assert result.returncode == 0, result.stdout + result.stderr
    warning = f"base_file: there is no {missing} (BASE=); the plan calls the cluster file new"
    assert warning in " ".join((result.stdout + result.stderr).split())
    plan = (state_dir / "e2e" / "plan.md").read_text()
    assert "\nThe cluster file is new (there is no `cluster.yaml` to compare with).\n" in plan
