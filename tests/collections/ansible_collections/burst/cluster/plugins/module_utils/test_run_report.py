"""run_report: the plan comment of a change, the summary of a run and the price table."""

from __future__ import annotations

import datetime
import json
import math
import re

import pytest
from ansible_collections.burst.cluster.plugins.module_utils import run_report
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    SCHEMA_PATH,
    SETUP_SECONDS,
    SHOWN_CHARS,
    TEARDOWN_SECONDS,
    ClusterConfigError,
    longest_run_seconds,
    validate_config,
)

PRICES = json.loads(run_report.PRICES_PATH.read_text(encoding="utf-8"))
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
CHANGES = {"create": 9, "same": 2, "update": 1, "delete": 0, "replace": 1}
JOB = "classifier.black_box:classify (slowness 1000, timeout 3600 s)"


def aws_config(base_dir, size=2, region="us-east-1", **aws):
    aws = {"ssh_cidr": "203.0.113.7/32", "region": region, **aws}
    data = {"name": "demo", "provider": "aws", "size": size, "aws": aws}
    return validate_config(data, base_dir)


def static_config(base_dir):
    return validate_config(
        {"name": "demo", "provider": "static", "static": {"hosts": ["10.77.0.2"]}}, base_dir
    )


def local_config(base_dir, **data):
    return validate_config({"name": "demo", **data}, base_dir)


def rows(markdown: str) -> dict[str, str]:
    """The table rows of ``markdown`` by field: everything after the field's cell."""
    found = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0] and cells[0] != "---":
            found[cells[0]] = " | ".join(cells[1:])
    return found


def loader_message(data, base_dir) -> str:
    with pytest.raises(ClusterConfigError) as caught:
        validate_config(data, base_dir)
    return str(caught.value)


# --- the plan comment -------------------------------------------------------------------


def test_a_size_change_marks_the_size_row_only_and_names_size(tmp_path):
    before, after = aws_config(tmp_path, size=2), aws_config(tmp_path, size=3)
    plan = run_report.plan_comment(after, before, CHANGES)
    table = rows(plan)
    head = "### burst plan for `demo`\n\n| | before | after |\n| --- | --- | --- |\n"
    assert plan.startswith(head)
    assert table["size"] == "2 machine(s) × 2 worker(s) | 3 machine(s) × 2 worker(s) **(changed)**"
    assert table["provider"] == "aws | aws"
    assert table["instance type"] == "c5.xlarge in us-east-1 | c5.xlarge in us-east-1"
    assert plan.count("(changed)") == 1
    assert "\nChanged: `size`.\n" in plan
    assert "No change to the cluster file." not in plan


def test_an_instance_type_change_marks_its_row_and_costs_the_new_type(tmp_path):
    before = aws_config(tmp_path, instance_type="c5.xlarge")
    after = aws_config(tmp_path, instance_type="m5.2xlarge")
    plan = run_report.plan_comment(after, before, CHANGES)
    assert rows(plan)["instance type"] == (
        "c5.xlarge in us-east-1 | m5.2xlarge in us-east-1 **(changed)**"
    )
    assert plan.count("(changed)") == 1
    assert "\nChanged: `aws`.\n" in plan
    price = PRICES["regions"]["us-east-1"]["m5.2xlarge"]
    assert price != PRICES["regions"]["us-east-1"]["c5.xlarge"]
    assert run_report.run_cost(after, PRICES)["price"] == price
    assert f"USD {price}/h per m5.2xlarge in us-east-1" in plan
    assert f"${3 * price:.2f} per hour" in plan


def test_an_invalid_file_quotes_the_loader_and_has_no_cost_or_resources(tmp_path):
    message = loader_message({"name": "Demo", "size": 0}, tmp_path)
    assert "size: 0 — must be an integer from 1 to 64" in message
    plan = run_report.plan_comment(message, aws_config(tmp_path), CHANGES, ["preview broke"])
    assert plan == (
        "### burst plan: the cluster file is invalid\n"
        "Nothing can be applied until it is fixed. The loader says:\n"
        f"```\n{message}\n```\n"
    )
    assert "Cost" not in plan and "Resources" not in plan and "|" not in plan


def test_no_change_says_so_and_marks_nothing(tmp_path):
    plan = run_report.plan_comment(aws_config(tmp_path), aws_config(tmp_path), CHANGES)
    assert "\nNo change to the cluster file.\n" in plan
    assert "(changed)" not in plan and "Changed:" not in plan
    assert rows(plan)["size"] == "2 machine(s) × 2 worker(s) | 2 machine(s) × 2 worker(s)"


def test_the_same_file_in_another_directory_is_no_change(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "new").mkdir()
    before, after = aws_config(tmp_path / "base"), aws_config(tmp_path / "new")
    assert before["results"]["dir"] != after["results"]["dir"]  # resolved per directory
    plan = run_report.plan_comment(after, before)
    assert "\nNo change to the cluster file.\n" in plan


def test_a_new_file_has_nothing_before(tmp_path):
    plan = run_report.plan_comment(aws_config(tmp_path), None)
    table = rows(plan)
    assert table["size"] == "— | 2 machine(s) × 2 worker(s)"
    assert table["source"] == "— | synthetic (10000 rows, seed 0)"
    assert all(value.startswith("— | ") for value in table.values())
    assert "\nThe cluster file is new.\n" in plan
    assert "(changed)" not in plan and "Changed:" not in plan


def test_a_base_that_did_not_load_is_quoted(tmp_path):
    message = loader_message({"name": "demo", "sise": 2}, tmp_path)
    plan = run_report.plan_comment(aws_config(tmp_path), message)
    assert f"\nThe cluster file before this change did not load:\n```\n{message}\n```\n" in plan
    assert "sise: unknown key" in plan
    assert rows(plan)["size"] == "— | 2 machine(s) × 2 worker(s)"
    assert "(changed)" not in plan and "Changed:" not in plan


def test_without_a_base_the_table_has_one_column(tmp_path):
    plan = run_report.plan_comment(local_config(tmp_path))
    assert "| | |\n| --- | --- |\n| provider | local |\n" in plan
    assert "before" not in plan and "Changed:" not in plan


def test_long_values_are_cut_and_a_change_past_the_cut_still_marked(tmp_path):
    url = "s3://bucket/" + "k" * 2000
    before = local_config(tmp_path, source={"kind": "s3", "url": url + "a"})
    after = local_config(tmp_path, source={"kind": "s3", "url": url + "b"})
    plan = run_report.plan_comment(after, before)
    old, new = rows(plan)["source"].split(" | ")
    assert old == new.removesuffix(" **(changed)**") == f"s3 ({url})"[: SHOWN_CHARS - 3] + "..."
    assert new.endswith("**(changed)**")
    summary = run_report.run_summary(after, "run", {})
    assert rows(summary)["source"] == old


def test_resources_count_the_preview_operations(tmp_path):
    plan = run_report.plan_comment(aws_config(tmp_path), changes=CHANGES)
    assert (
        "\n**Resources** (`pulumi preview`; the stack exists only while a run does, so this is"
        " what every run makes): 9 to add, 1 to change, 0 to remove, 1 to replace,"
        " 2 unchanged.\n"
    ) in plan


def test_resources_without_replacements_leave_replace_out(tmp_path):
    plan = run_report.plan_comment(aws_config(tmp_path), changes={"create": 12})
    assert "makes): 12 to add, 0 to change, 0 to remove, 0 unchanged.\n" in plan
    assert "to replace" not in plan


def test_provider_local_makes_no_cloud_resource(tmp_path):
    plan = run_report.plan_comment(local_config(tmp_path), changes=CHANGES)
    assert "\n**Resources:** none; provider `local` makes no cloud resource.\n" in plan
    assert plan.endswith(
        "\n**Cost:** $0; provider `local` runs on this machine, with no cloud machine.\n"
    )


def test_resources_unknown_when_the_preview_did_not_run(tmp_path):
    plan = run_report.plan_comment(aws_config(tmp_path), changes=None)
    assert "\n**Resources:** unknown; the preview did not run.\n" in plan


def test_preview_failures_are_listed(tmp_path):
    failures = ["provision: pulumi preview failed", "no credentials"]
    plan = run_report.plan_comment(aws_config(tmp_path), failures=failures)
    assert plan.endswith(
        "\n**The preview failed:**\n```\nprovision: pulumi preview failed\nno credentials\n```\n"
    )
    assert "preview failed" not in run_report.plan_comment(aws_config(tmp_path))


# --- the cost ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "region", "instance_type", "timeout"),
    [
        (1, "us-east-1", "c5.xlarge", 3600),
        (3, "us-east-1", "c5.xlarge", 3600),
        (4, "eu-west-1", "m6i.2xlarge", 1800),
        (16, "ap-northeast-1", "t3.medium", 86400),
    ],
)
def test_the_cost_follows_the_price_table(tmp_path, size, region, instance_type, timeout):
    data = {
        "name": "demo",
        "provider": "aws",
        "size": size,
        "job": {"timeout": timeout},
        "aws": {
            "ssh_cidr": "203.0.113.7/32",
            "region": region,
            "instance_type": instance_type,
            "max_lifetime": timeout + SETUP_SECONDS,
        },
    }
    config = validate_config(data, tmp_path)
    price = PRICES["regions"][region][instance_type]
    machines = size + 1  # the metrics host
    hours = (timeout + SETUP_SECONDS + TEARDOWN_SECONDS) / 3600
    assert longest_run_seconds(config) / 3600 == hours
    per_hour, per_run = machines * price, machines * price * hours
    per_month = per_run * 720
    cost = run_report.run_cost(config, PRICES)
    assert cost["machines"] == machines and cost["price"] == price and cost["spot"] is False
    assert cost["date"] == PRICES["date"]
    assert cost["per_hour"] == pytest.approx(per_hour, abs=0.00005)
    assert cost["per_run"] == pytest.approx(per_run, abs=0.005)
    plan = run_report.plan_comment(config, prices=PRICES)
    assert (
        f"\n**Cost** (on-demand USD {price}/h per {instance_type} in {region}, price table of"
        f" {PRICES['date']}): {machines} machines, ${per_hour:.2f} per hour; a run lasts at most"
        f" {math.ceil(hours * 60)} min (job.timeout, and 20 min to boot, install, collect and"
        f" tear down), so at most ${per_run:.2f} per run and "
    ) in plan
    # the month is 720 runs of the exact cost, not of the cost rounded to the cent
    assert cost["per_month_hourly"] == pytest.approx(per_month, abs=0.005)
    assert f" per run and ${per_month:.2f} for 30 days of hourly runs.\n" in plan


def test_the_cost_uses_the_shipped_table_by_default(tmp_path):
    config = aws_config(tmp_path)
    assert run_report.load_prices() == PRICES
    assert run_report.plan_comment(config) == run_report.plan_comment(config, prices=PRICES)


def test_a_spot_max_price_below_the_price_caps_it(tmp_path):
    on_demand = PRICES["regions"]["us-east-1"]["c5.xlarge"]
    cap = round(on_demand / 4, 4)
    config = aws_config(tmp_path, spot={"max_price": cap})
    cost = run_report.run_cost(config, PRICES)
    assert cost["price"] == cap and cost["spot"] is True
    assert cost["per_hour"] == pytest.approx(3 * cap, abs=0.00005)
    plan = run_report.plan_comment(config, prices=PRICES)
    assert f"**Cost** (spot, at most USD {cap}/h per c5.xlarge in us-east-1," in plan
    assert f"${3 * cap:.2f} per hour" in plan


def test_a_spot_max_price_above_the_price_does_not_raise_it(tmp_path):
    on_demand = PRICES["regions"]["us-east-1"]["c5.xlarge"]
    for spot in ({"max_price": on_demand * 10}, True):
        cost = run_report.run_cost(aws_config(tmp_path, spot=spot), PRICES)
        assert cost["price"] == on_demand and cost["spot"] is True


def test_a_region_missing_from_the_table_gives_an_unknown_cost(tmp_path):
    assert "sa-east-1" not in PRICES["regions"]
    config = aws_config(tmp_path, region="sa-east-1")
    cost = run_report.run_cost(config, PRICES)
    assert cost["price"] is None and "per_hour" not in cost
    plan = run_report.plan_comment(config, prices=PRICES)
    assert plan.endswith(
        f"\n**Cost:** unknown; the price table of {PRICES['date']} has no price for"
        " c5.xlarge in sa-east-1.\n"
    )


def test_no_cost_for_providers_without_cloud_machines(tmp_path):
    assert run_report.run_cost(local_config(tmp_path), PRICES) is None


# --- the price table --------------------------------------------------------------------


def test_the_price_table_covers_every_allowed_instance_type_and_the_default_region():
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", PRICES["date"])
    assert PRICES["currency"] == "USD"
    aws = SCHEMA["properties"]["aws"]["properties"]
    allowed = aws["instance_type"]["enum"]
    assert aws["region"]["default"] in PRICES["regions"]
    assert aws["instance_type"]["default"] in allowed
    for region, table in PRICES["regions"].items():
        assert re.fullmatch(aws["region"]["pattern"], region), region
        missing = [name for name in allowed if name not in table]
        assert missing == [], f"{region} has no price for {missing}"
        for name, price in table.items():
            assert type(price) in (int, float) and price > 0, (region, name, price)


def test_the_price_table_date_is_a_real_day():
    from datetime import date

    assert date.fromisoformat(PRICES["date"]).isoformat() == PRICES["date"]


# --- the run summary --------------------------------------------------------------------


def test_a_run_that_succeeded_with_a_balanced_manifest(tmp_path):
    config = aws_config(tmp_path)
    manifest = {
        "rows_in": 3000,
        "rows_out": 2990,
        "rows_rejected": 10,
        "balanced": True,
        "seconds": 42.5,
        "results_sha256": "ab" * 32,
    }
    summary = run_report.run_summary(config, "20260101T000000Z-abcd", manifest, prices=PRICES)
    table = rows(summary)
    assert summary.startswith("### burst run `20260101T000000Z-abcd` of `demo`: succeeded\n")
    assert table["rows"] == "3000 in, 2990 out, 10 rejected (balanced)"
    assert table["job time"] == "42.5 s"
    assert table["results.csv sha256"] == f"`{'ab' * 32}`"
    assert table["results"] == "`output/20260101T000000Z-abcd/`"
    assert table["rejects"] == (
        "`output/20260101T000000Z-abcd/rejects.csv`: each rejected row's line and reason"
    )
    assert table["size"] == "2 machine(s) × 2 worker(s)"
    assert "\n**Cost** (on-demand USD " in summary
    assert "failed" not in summary and "What failed" not in summary


def test_an_unbalanced_manifest_says_so(tmp_path):
    manifest = {"rows_in": 5, "rows_out": 3, "rows_rejected": 1, "balanced": False}
    summary = run_report.run_summary(local_config(tmp_path), "r1", manifest)
    assert rows(summary)["rows"] == "5 in, 3 out, 1 rejected (**not balanced**)"


def test_partial_results_are_marked_partial_and_rejects_left_out_when_none(tmp_path):
    manifest = {"rows_in": None, "rows_out": 40, "rows_rejected": 0, "partial": True}
    table = rows(run_report.run_summary(local_config(tmp_path), "r3", manifest, ["timeout"]))
    assert table["results"] == (
        "`output/r3/` (**partial**: the run stopped before the end of the input)"
    )
    assert table["rows"] == (
        "not counted (the source never gave its count) in, 40 out, 0 rejected (**not balanced**)"
    )
    assert "rejects" not in table


def test_the_wall_time_runs_from_the_start_in_the_run_id(tmp_path):
    started = datetime.datetime(2026, 1, 1, 10, 15, tzinfo=datetime.UTC).timestamp()
    summary = run_report.run_summary(
        static_config(tmp_path), "20260101T101500Z-ab12", {}, now=started + 83.4
    )
    assert rows(summary)["wall time"] == "83 s, from the run's start to this summary"
    assert "\n**Cost:** $0; provider `static` runs on machines you have" in summary
    assert "wall time" not in rows(run_report.run_summary(static_config(tmp_path), "r5", {}))


def test_stalled_workers_are_named_and_left_out_when_none(tmp_path):
    stalled = ["tls://10.77.0.2:40123 (e2e-1-0)", "tls://10.77.0.3:40200 (e2e-2-0)"]
    manifest = {"rows_in": 5, "rows_out": 5, "rows_rejected": 0, "stalled_workers": stalled}
    table = rows(run_report.run_summary(local_config(tmp_path), "r4", manifest))
    assert table["stalled workers"] == (
        "`tls://10.77.0.2:40123 (e2e-1-0)`, `tls://10.77.0.3:40200 (e2e-2-0)`:"
        " silent with a batch, removed mid-run"
    )
    assert "lost workers" not in table
    manifest["stalled_workers"] = []
    assert "stalled workers" not in rows(
        run_report.run_summary(local_config(tmp_path), "r4", manifest)
    )


def test_lost_workers_are_named_beside_the_stalled(tmp_path):
    manifest = {
        "rows_in": 5,
        "rows_out": 5,
        "rows_rejected": 0,
        "stalled_workers": ["tls://10.77.0.2:40123 (e2e-1-0)"],
        "lost_workers": ["tls://10.77.0.3:40200 (e2e-2-0)"],
    }
    table = rows(run_report.run_summary(local_config(tmp_path), "r4", manifest))
    assert table["stalled workers"] == (
        "`tls://10.77.0.2:40123 (e2e-1-0)`: silent with a batch, removed mid-run"
    )
    assert table["lost workers"] == (
        "`tls://10.77.0.3:40200 (e2e-2-0)`: left the cluster mid-run, their batches ran on the"
        " others"
    )


def test_a_failed_run_lists_its_failures_and_has_no_manifest(tmp_path):
    config = local_config(tmp_path, results={"dir": "runs/out"})
    failures = ["Wait for the results: receiver died", "teardown: boom"]
    summary = run_report.run_summary(config, "r2", {}, failures)
    table = rows(summary)
    assert summary.startswith("### burst run `r2` of `demo`: failed\n")
    assert table["rows"] == "no manifest was collected"
    assert table["results"] == "`runs/out/r2/`"
    assert "job time" not in table and "results.csv sha256" not in table
    assert summary.endswith(
        "\n**What failed:**\n```\nWait for the results: receiver died\nteardown: boom\n```\n"
    )
    assert "\n**Cost:** $0; provider `local` runs on this machine" in summary
