"""run_charts: the run's timeline, its page and its Mermaid blocks, from files a run leaves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ansible_collections.burst.cluster.plugins.module_utils import run_charts, run_report
from mermaid_xychart import MermaidError, blocks, validate

REPO = next(p for p in Path(__file__).resolve().parents if (p / "ansible.cfg").is_file())

T0 = 1_800_000_000.0
CONFIG = {
    "name": "demo",
    "provider": "local",
    "size": 1,
    "workers_per_host": 2,
    "base_dir": "/srv/burst",
    "source": {"kind": "synthetic", "rows": 60, "seed": 0},
    "job": {"classifier": "classifier.black_box:classify", "slowness": 10, "timeout": 600},
    "results": {"dir": "/srv/burst/output"},
}


def write_batches(path: Path, count=12, rows=5, cut_last=False):
    """A batches.csv as the source writes it: two workers, batches of ``rows`` rows."""
    lines = [",".join(run_charts_fields())]
    for number in range(count):
        start = T0 + 1 + number * 0.5
        lines.append(
            f"{2 + number * rows},{rows},{rows - (number == 3)},{int(number == 3)},"
            f"tls://127.0.0.1:{4000 + number % 2},{start:.3f},{start + 0.4:.3f},{start + 0.45:.3f}"
        )
    if cut_last:
        lines.append("62,5,5,0,tls://127.0.0.1:4000,18000")  # a killed source's last line
    path.write_text("\n".join(lines) + "\n")


def run_charts_fields():
    from classifier.timeline import FIELDS

    return FIELDS


def manifest(**extra):
    return {
        "complete": True,
        "partial": False,
        "rows_in": 60,
        "rows_out": 59,
        "rows_rejected": 1,
        "started_at": T0 + 0.5,
        "finished_at": T0 + 8,
        "seconds": 7.5,
        **extra,
    }


MARKS = [
    {"provision": T0 - 20},
    {"install": T0 - 12, "start": T0 - 10, "job": T0 - 2, "collect": T0 + 9},
    {"install": T0 - 11, "start": T0 - 9, "job": T0 - 1, "collect": T0 + 9.5},
    {"teardown": T0 + 12},
]


def test_phases_take_each_ones_earliest_mark_and_last_until_the_next():
    phases = run_charts.phases(MARKS, ended_at=T0 + 15)
    assert [p["phase"] for p in phases] == list(run_charts.PHASES)
    assert [p["seconds"] for p in phases] == [8, 2, 8, 11, 3, 3]
    assert sum(p["seconds"] for p in phases) == 35  # provision to the report, nothing lost


def test_a_run_that_failed_at_provisioning_has_the_phases_it_began():
    phases = run_charts.phases([{"provision": T0}, {"teardown": T0 + 4}], ended_at=T0 + 6)
    assert [(p["phase"], p["seconds"]) for p in phases] == [("provision", 4), ("teardown", 2)]
    assert run_charts.phases([], ended_at=T0) == []


def test_the_timeline_adds_up_to_the_manifest_and_holds_every_batch_once(tmp_path):
    path = tmp_path / "batches.csv"
    write_batches(path, cut_last=True)
    batches = run_charts.read_batches(str(path))
    assert len(batches) == 12  # the cut line is left out, the rest kept
    data = run_charts.timeline("r1", manifest(), batches, MARKS, T0 + 15, 0)
    assert sum(b["rows_out"] for b in data["batches"]) == data["rows"]["out"] == 59
    assert sum(b["rows_rejected"] for b in data["batches"]) == data["rows"]["rejected"] == 1
    firsts = [b["first_line"] for b in data["batches"]]
    assert firsts == sorted(set(firsts))
    assert data["rows_done"][-1][1] == 60
    step = data["rows_per_second"][0][0]
    assert sum(rate for _, rate in data["rows_per_second"]) * step == pytest.approx(60, rel=0.01)
    assert json.loads(run_charts.dumps(data)) == data
    assert "predicted" not in data


def test_predicted_against_actual_only_where_the_manifest_has_it(tmp_path):
    predicted = {"size": 3, "seconds": 40.0, "basis": "history"}
    data = run_charts.timeline(
        "r1", manifest(predicted=predicted, wall_seconds=52), [], [], T0, None
    )
    assert data["predicted"] == {**predicted, "actual_seconds": 52}
    page = run_charts.page(data, "run r1")
    assert 'id="chart-predicted"' in page and "predicted (history)" in page


def test_the_page_is_one_file_with_plotly_inlined_and_a_chart_each(tmp_path):
    path = tmp_path / "batches.csv"
    write_batches(path)
    data = run_charts.timeline(
        "r1", manifest(), run_charts.read_batches(str(path)), MARKS, T0 + 15, 0
    )
    page = run_charts.page(data, "burst run r1")
    for chart in ("rows", "tasks", "phases", "counts"):
        assert f'id="chart-{chart}"' in page
    assert "chart-predicted" not in page
    assert not re.search(r"<script[^>]+src=", page), "the page loads a script from elsewhere"
    assert page.count("plotly.js v") >= 1 and len(page) > 1_000_000  # plotly.js, once
    assert "What failed" not in page


def test_a_failed_runs_page_says_what_failed_and_shows_what_was_done(tmp_path):
    path = tmp_path / "batches.csv"
    write_batches(path, count=4)
    failure = "source: connection closed before the end of the results"
    data = run_charts.timeline(
        "r1",
        manifest(complete=False, partial=True, rows_in=None, rows_out=19, rows_rejected=1),
        run_charts.read_batches(str(path)),
        MARKS,
        T0 + 15,
        0,
        [failure],
    )
    page = run_charts.page(data, "burst run r1: failed")
    assert data["outcome"] == "failed" and data["failures"] == [failure]
    assert "What failed" in page and failure in page and "partial" in page
    assert 'id="chart-tasks"' in page and data["rows_done"][-1][1] == 20


def test_the_summarys_mermaid_blocks_validate(tmp_path):
    path = tmp_path / "batches.csv"
    write_batches(path)
    data = run_charts.timeline(
        "r1", manifest(), run_charts.read_batches(str(path)), MARKS, T0 + 15, 0
    )
    markdown = run_report.run_summary(
        {**CONFIG}, "20261202T073013Z-4c5e", manifest(), charts=run_charts.summary_blocks(data)
    )
    charts = [validate(body) for body in blocks(markdown)]
    assert [c["title"] for c in charts] == [
        "rows/s over the job (x: seconds since its start)",
        "wall time by phase (s)",
    ]
    assert charts[1]["categories"] == [f'"{name}"' for name in run_charts.PHASES]
    assert charts[1]["series"] == [("bar", [8, 2, 8, 11, 3, 3])]


def test_the_plan_comments_mermaid_block_validates():
    before = {**CONFIG, "job": {**CONFIG["job"], "timeout": 1200}}
    markdown = run_report.plan_comment(
        CONFIG, before, prices={"date": "x", "currency": "USD", "regions": {}}
    )
    (chart,) = [validate(body) for body in blocks(markdown)]
    assert chart["categories"] == ['"before"', '"after"']
    assert chart["series"] == [("bar", [40, 30])]


@pytest.mark.parametrize(
    "body",
    [
        "xychart\n    bar [1, 2]",
        'xychart-beta\n    title "unclosed\n    bar [1]',
        'xychart-beta\n    x-axis ["a", "b"]\n    bar [1, 2, 3]',
        'xychart-beta\n    y-axis "rows" 0 --> 10\n    line [1, 20]',
        'xychart-beta\n    x-axis ["a"]\n    bars [1]',
        "xychart-beta\n    line [1e6]",
        'xychart-beta\n    title "only a title"',
    ],
)
def test_the_validator_refuses_what_mermaid_would_not_draw(body):
    with pytest.raises(MermaidError):
        validate(body)


def test_mermaid_labels_hold_no_quote_and_numbers_no_exponent():
    block = run_charts.mermaid_bars('a "quoted" title', ['x"y', "a" * 40], [1e7, 0.25], "rows")
    chart = validate(blocks(block + "\n")[0])
    assert chart["series"] == [("bar", [10_000_000, 0.2])] or chart["series"] == [
        ("bar", [10_000_000, 0.3])
    ]
    assert chart["title"] == "a 'quoted' title"


def test_a_run_without_a_manifest_says_so_rather_than_none():
    failure = "Check that the ports are free: ports.receiver 7200 on 127.0.0.1 is taken"
    data = run_charts.timeline("r1", {}, [], MARKS[:1], T0 - 10, 0, [failure])
    page = run_charts.page(data, "burst run r1: failed")
    facts = page[page.index('<table id="facts">') : page.index("</table>")]
    assert "no manifest was collected" in facts and "None" not in facts
    assert 'id="chart-phases"' in page and failure in page
