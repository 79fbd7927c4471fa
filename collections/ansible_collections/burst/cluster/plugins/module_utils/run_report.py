"""The Markdown burst writes for people: the plan of a change (the pull-request comment) and
the summary of a run (the job summary), with what the machines cost by schema/aws_prices.json."""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
import time

from ansible_collections.burst.cluster.plugins.module_utils import providers, run_charts
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    DERIVED_KEYS,
    SCHEMA_DIR,
    SETUP_SECONDS,
    TEARDOWN_SECONDS,
    cut,
    longest_run_seconds,
)

PRICES_PATH = SCHEMA_DIR / "aws_prices.json"
PREVIEW_OPERATIONS = (("create", "to add"), ("update", "to change"), ("delete", "to remove"))
REPLACE_OPERATIONS = ("replace", "create-replacement", "delete-replaced")
WORKERS_GONE = {  # the manifest's workers that left mid-run, and what happened to them
    "stalled_workers": "silent with a batch, removed mid-run",
    "lost_workers": "left the cluster mid-run, their batches ran on the others",
}


@functools.cache
def load_prices(path=PRICES_PATH) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def run_cost(config: dict, prices: dict) -> dict | None:
    """What a run's machines cost at most, in USD; None when burst pays for no machine."""
    return providers.get(config["provider"]).run_cost(config, prices)


NOT_COMPARED = object()  # no earlier version of the file to compare with


def plan_comment(
    new,
    base=NOT_COMPARED,
    changes=None,
    failures=(),
    prices=None,
    base_name=None,
    sizing=(),
    charts=(),
) -> str:
    """The pull-request comment for a change of the cluster file.

    ``new`` and ``base`` are loaded configs or, for a file that does not load, the loader's
    message; ``base`` is None for a file new in the change, NOT_COMPARED when there is no
    earlier version to compare with; ``base_name`` names the earlier file. ``changes``
    counts the preview's operations; ``sizing`` is the sizing table's Markdown lines;
    ``charts`` Markdown blocks (Mermaid) shown after the chart of the longest run.
    """
    prices = prices or load_prices()
    if isinstance(new, str):
        return _join(
            "### burst plan: the cluster file is invalid",
            "Nothing can be applied until it is fixed. The loader says:",
            _fenced(new),
        )
    after = _describe(new)
    lines = ["### burst plan for `{}`".format(new["name"]), ""]
    if base is NOT_COMPARED:
        lines += ["| | |", "| --- | --- |"]
        lines += [f"| {field} | {cut(value)} |" for field, value in after.items()]
    else:
        before = _describe(base) if isinstance(base, dict) else {}
        lines += ["| | before | after |", "| --- | --- | --- |"]
        for field, value in after.items():
            old = before.get(field, "—")
            mark = " **(changed)**" if before and old != value else ""
            lines.append(f"| {field} | {cut(old)} | {cut(value)}{mark} |")
        if base is None:
            missing = f" (there is no `{cut(base_name)}` to compare with)" if base_name else ""
            lines.append(f"\nThe cluster file is new{missing}.")
        elif isinstance(base, str):
            lines += ["\nThe cluster file before this change did not load:", _fenced(base)]
        else:
            changed = _changed_sections(base, new)
            lines.append(
                "\nChanged: " + ", ".join(f"`{key}`" for key in changed) + "."
                if changed
                else "\nNo change to the cluster file."
            )
    lines += ["", *sizing, ""] if sizing else []
    lines += ["", _resources(new, changes), ""]
    files = {"before": base, "after": new} if isinstance(base, dict) else {"this file": new}
    chart = run_charts.mermaid_bars(
        "a run at most (minutes)",
        list(files),
        [longest_run_seconds(config) / 60 for config in files.values()],
        "minutes",
    )
    lines += [chart, ""]
    for block in charts:
        lines += [block, ""]
    lines.append(_cost_line(run_cost(new, prices), prices, new["provider"]))
    if failures:
        lines += ["", "**The preview failed:**", _fenced("\n".join(failures))]
    return _join(*lines)


def run_summary(
    config: dict,
    run_id: str,
    manifest: dict,
    failures=(),
    prices=None,
    now=None,
    charts=(),
    sizing=(),
) -> str:
    """The summary of one run: its rows, its time, where the results are and what failed.
    ``now`` (seconds since the epoch) is when the run ends; its start is in ``run_id``.
    ``charts`` are Markdown blocks (Mermaid) shown after the table; ``sizing`` Markdown lines
    of its predicted time against the actual."""
    prices = prices or load_prices()
    outcome = "failed" if failures else "succeeded"
    lines = [f"### burst run `{run_id}` of `{config['name']}`: {outcome}", ""]
    lines += ["| | |", "| --- | --- |"]
    for field, value in _describe(config).items():
        lines.append(f"| {field} | {cut(value)} |")
    if manifest:
        balance = "balanced" if manifest.get("balanced") else "**not balanced**"
        rows_in = manifest.get("rows_in")
        counted = "not counted (the source never gave its count)" if rows_in is None else rows_in
        lines.append(
            "| rows | {} in, {} out, {} rejected ({}) |".format(
                counted, manifest.get("rows_out"), manifest.get("rows_rejected"), balance
            )
        )
        lines.append(f"| job time | {manifest.get('seconds')} s |")
        lines.append(f"| results.csv sha256 | `{manifest.get('results_sha256')}` |")
    else:
        lines.append("| rows | no manifest was collected |")
    output = cut(
        os.path.relpath(os.path.join(config["results"]["dir"], run_id), config["base_dir"])
    )
    partial = " (**partial**: the run stopped before the end of the input)"
    lines.append(f"| results | `{output}/`{partial if manifest.get('partial') else ''} |")
    if manifest.get("rows_rejected"):
        lines.append(f"| rejects | `{output}/rejects.csv`: each rejected row's line and reason |")
    for gone, what in WORKERS_GONE.items():
        if manifest.get(gone):
            workers = ", ".join(f"`{worker}`" for worker in manifest[gone])
            lines.append(f"| {gone.replace('_', ' ')} | {workers}: {what} |")
    started = run_started(run_id)
    if started is not None:
        wall = round((time.time() if now is None else now) - started)
        lines.append(f"| wall time | {wall} s, from the run's start to this summary |")
    lines += ["", *sizing] if sizing else []
    lines += ["", _cost_line(run_cost(config, prices), prices, config["provider"])]
    if failures:
        lines += ["", "**What failed:**", _fenced("\n".join(failures))]
    for chart in charts:
        lines += ["", chart]
    return _join(*lines)


def run_started(run_id: str) -> float | None:
    """When the run of ``run_id`` (``%Y%m%dT%H%M%SZ-xxxx``) started, in seconds since the epoch."""
    try:
        started = datetime.datetime.strptime(run_id.split("-")[0], "%Y%m%dT%H%M%SZ")
    except ValueError:
        return None
    return started.replace(tzinfo=datetime.UTC).timestamp()


def _describe(config: dict) -> dict:
    source, job = config["source"], config["job"]
    where = {
        "synthetic": lambda: f"{source.get('rows')} rows, seed {source.get('seed')}",
        "file": lambda: os.path.relpath(source["path"], config["base_dir"]),
        "s3": lambda: source["url"],
    }
    return {
        "provider": config["provider"],
        "size": f"{config['size']} machine(s) × {config['workers_per_host']} worker(s)",
        "instance type": providers.get(config["provider"]).machines(config),
        "source": f"{source['kind']} ({where[source['kind']]()})",
        "job": f"{job['classifier']} (slowness {job['slowness']}, timeout {job['timeout']} s)",
    }


def _changed_sections(base: dict, new: dict) -> list[str]:
    """Top-level keys whose values differ, with paths taken relative to each file's directory."""

    def comparable(value, base_dir):
        if isinstance(value, dict):
            return {key: comparable(item, base_dir) for key, item in value.items()}
        if isinstance(value, list):
            return [comparable(item, base_dir) for item in value]
        if not isinstance(value, str):
            return value
        scheme, path = ("file://", value[7:]) if value.startswith("file://") else ("", value)
        inside = os.path.isabs(path) and os.path.commonpath([path, base_dir]) == base_dir
        return scheme + os.path.relpath(path, base_dir) if inside else value

    old, now = (
        comparable({k: v for k, v in config.items() if k not in DERIVED_KEYS}, config["base_dir"])
        for config in (base, new)
    )
    return [key for key in dict.fromkeys([*old, *now]) if old.get(key) != now.get(key)]


def _resources(config: dict, changes) -> str:
    if not providers.get(config["provider"]).CLOUD:
        return f"**Resources:** none; provider `{config['provider']}` makes no cloud resource."
    if changes is None:
        return "**Resources:** unknown; the preview did not run."
    counts = [f"{changes.get(op, 0)} {label}" for op, label in PREVIEW_OPERATIONS]
    replaced = sum(changes.get(op, 0) for op in REPLACE_OPERATIONS)
    if replaced:
        counts.append(f"{replaced} to replace")
    counts.append(f"{changes.get('same', 0)} unchanged")
    return (
        "**Resources** (`pulumi preview`; the stack exists only while a run does, so this is"
        " what every run makes): " + ", ".join(counts) + "."
    )


def _cost_line(cost: dict | None, prices: dict, provider: str) -> str:
    if cost is None:
        where = providers.get(provider).RUNS_ON
        return f"**Cost:** $0; provider `{provider}` runs on {where}, with no cloud machine."
    if cost["price"] is None:
        return (
            f"**Cost:** unknown; the price table of {cost['date']} has no price for"
            f" {cost['instance_type']} in {cost['region']}."
        )
    kind = "spot, at most" if cost["spot"] else "on-demand"
    extra_minutes = (SETUP_SECONDS + TEARDOWN_SECONDS) // 60
    return (
        f"**Cost** ({kind} {prices['currency']} {cost['price']}/h per {cost['instance_type']} in"
        f" {cost['region']}, price table of {cost['date']}): {cost['machines']} machines,"
        f" ${cost['per_hour']:.2f} per hour; a run lasts at most"
        f" {math.ceil(cost['run_hours'] * 60)} min (job.timeout, and {extra_minutes} min to boot,"
        f" install, collect and tear down), so at most ${cost['per_run']:.2f} per run and"
        f" ${cost['per_month_hourly']:.2f} for 30 days of hourly runs."
    )


def _fenced(text: str) -> str:
    return f"```\n{text}\n```"


def _join(*lines) -> str:
    return "\n".join(lines).rstrip() + "\n"
