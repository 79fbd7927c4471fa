"""history_charts: every run of a cluster in history.html, from results.dir and from S3 (moto's
server), and the Mermaid chart of the last runs' times."""

from __future__ import annotations

import json
import re

from ansible_collections.burst.cluster.plugins.module_utils import history_charts, run_history
from mermaid_xychart import blocks, validate
from run_manifests import RUNS, config, manifest, upload_runs, write_runs

FAILED = "20261201T160000Z-gggg"
UNCOLLECTED = "20261201T170000Z-hhhh"


def with_a_failed_and_an_uncollected_run(directory, cfg):
    write_runs(directory, cfg)
    failed = manifest(cfg, FAILED, rows=500, seconds=4.0, wall=30.0, partial=True)
    failed["failures"] = ["job: the source on e2e-0 stopped"]
    (directory / FAILED).mkdir()
    (directory / FAILED / "manifest.json").write_text(json.dumps(failed))
    (directory / UNCOLLECTED).mkdir()  # a run that failed before it collected a manifest


def test_every_run_is_a_line_and_failed_partial_and_uncollected_runs_are_marked(tmp_path):
    cfg = config(tmp_path)
    with_a_failed_and_an_uncollected_run(tmp_path / "output", cfg)

    history = history_charts.read(cfg)
    lines = history_charts.lines(history.runs)

    assert [line["run_id"] for line in lines] == [*RUNS, FAILED, UNCOLLECTED]
    outcomes = [line["outcome"] for line in lines]
    assert outcomes == ["succeeded", "succeeded", "partial", "failed", "uncollected"]
    assert lines[3]["failures"] == ["job: the source on e2e-0 stopped"]
    # 1000 rows in the job's 2.0 s on 2 workers (size 2 × 1)
    assert lines[0]["rows_per_second_per_worker"] == 250.0
    assert lines[3]["rows_per_second_per_worker"] == 62.5  # 500 rows, 4.0 s, 2 workers
    assert (lines[0]["wall_seconds"], lines[0]["started"]) == (12.0, "2026-12-01 10:00:00")
    assert lines[4]["rows"] is None and lines[4]["wall_seconds"] is None
    assert len(history.notes) == 3  # the corrupt, foreign and other cluster's manifests
    # sizing reads the same manifests and learns from the runs that succeeded alike
    sized = run_history.read_history(cfg)
    assert [run.run_id for run in sized.runs] == [*RUNS, FAILED]
    kept, _ = run_history.comparable_runs(sized.runs, cfg)
    assert [run.run_id for run in kept] == ["20261201T100000Z-aaaa"]


def test_the_page_charts_every_run_and_lists_what_it_skipped(tmp_path):
    cfg = config(tmp_path, job={"deadline": "2m"})
    with_a_failed_and_an_uncollected_run(tmp_path / "output", cfg)
    (tmp_path / "output" / FAILED / "report.html").write_text("<html></html>")

    page = history_charts.page(cfg, history_charts.read(cfg))

    sections = re.findall(r'<section class="chart" id="chart-(\w+)">', page)
    assert sections == ["rows", "time", "rate", "cost"]
    assert page.count("<script") >= 4 and not re.search(r'<script[^>]+src="http', page)
    assert "Run time against job.deadline 120 s" in page
    assert "5 run(s) from" in page and "2 succeeded, 1 partial, 1 failed, 1 uncollected" in page
    rows = re.findall(r'<tr class="(\w+)">(.*?)</tr>', page)
    assert [outcome for outcome, _ in rows] == [
        "uncollected",
        "failed",
        "partial",
        "succeeded",
        "succeeded",
    ]  # the latest first
    assert f'<a href="{FAILED}/report.html">' in rows[1][1]
    assert "job: the source on e2e-0 stopped" in rows[1][1]
    assert "no manifest was collected" in rows[0][1]
    skipped = re.search(r'<ul id="skipped">(.*?)</ul>', page)[1]
    assert skipped.count("<li>") == 3 and "nightly" in skipped


def test_without_runs_the_page_says_so_and_draws_nothing(tmp_path):
    cfg = config(tmp_path)
    page = history_charts.page(cfg, history_charts.read(cfg))
    assert '<p id="no-runs">No run of hourly in output yet.</p>' in page
    assert "<script" not in page
    elsewhere = config(tmp_path / "jobs", results={"dir": str(tmp_path / "runs")})
    assert history_charts.places(elsewhere) == str(tmp_path / "runs")


def test_history_from_s3_and_results_dir(tmp_path, s3):
    cfg = config(tmp_path, results={"s3": "s3://team-results/burst"})
    upload_runs(s3, cfg["results"]["s3"], tmp_path / "uploaded", cfg)
    (tmp_path / "output" / UNCOLLECTED).mkdir(parents=True)

    history = history_charts.read(cfg)
    page = history_charts.page(cfg, history)

    assert [run.run_id for run in history.runs] == [*RUNS, UNCOLLECTED]
    assert history.runs[0].where == f"s3://team-results/burst/{next(iter(RUNS))}/manifest.json"
    assert "from output and s3://team-results/burst:" in page
    skipped = re.search(r'<ul id="skipped">(.*?)</ul>', page)[1]
    assert skipped.count("<li>skipped s3://team-results/burst/") == 3


def test_the_mermaid_chart_of_the_last_runs_validates(tmp_path):
    cfg = config(tmp_path, job={"deadline": 60})
    runs = [
        run_history.Run(
            f"20261201T{hour:02d}0000Z-abcd",
            "here",
            manifest(cfg, "x", wall=20.0 + hour) | ({"failures": ["boom"]} if hour == 22 else {}),
        )
        for hour in range(24)
    ] + [run_history.Run("20261202T000000Z-abcd", "here", {})]  # no time: not drawn

    (body,) = blocks(history_charts.mermaid_run_times(runs, cfg) + "\n")
    chart = validate(body)

    assert chart["title"] == "run time over the last 20 run(s) (s); line: job.deadline 60 s"
    assert chart["categories"][0] == '"12-01 04:00"' and chart["categories"][-1] == '"12-01 23:00"'
    assert chart["categories"][-2] == '"12-01 22:00 failed"'
    assert chart["series"] == [
        ("bar", [20.0 + hour for hour in range(4, 24)]),
        ("line", [60.0] * 20),
    ]
    without_deadline = validate(
        blocks(history_charts.mermaid_run_times(runs, config(tmp_path)) + "\n")[0]
    )
    assert [kind for kind, _ in without_deadline["series"]] == ["bar"]
    assert history_charts.mermaid_run_times(runs[-1:], cfg) is None
