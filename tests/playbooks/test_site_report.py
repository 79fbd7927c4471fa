"""The run's report through site.yml: report.html, timeline.json, dask-report.html and the
summary's Mermaid charts, from a run that succeeds and from one whose source is killed;
report.html opened in a real headless browser (Debian's chromium, which `make test` installs
as root)."""

import json
import re
import shutil
import subprocess

import pytest
from conftest import cluster_file
from mermaid_xychart import blocks, validate
from PIL import Image
from site_runs import FAULT_ROWS, run_dir, run_with_fault, site

pytestmark = pytest.mark.slow

ROWS = 3000
PHASES = ["provision", "install", "start", "job", "collect", "teardown"]
CHARTS = ("rows", "tasks", "phases", "counts")
CHROMIUM = shutil.which("chromium")
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium: `make test` installs Debian's as root"
)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("report")
    path = cluster_file(
        tmp_path,
        size=1,
        workers_per_host=2,
        source={"kind": "synthetic", "rows": ROWS, "seed": 5},
        job={"slowness": 200, "batch_rows": 100},
    )
    done = site(path, tmp_path / "state")
    assert done.returncode == 0, done.stdout[-3000:]
    return run_dir(tmp_path / "output")


def browser(page, *args, timeout=90):
    """Chromium, headless, on ``page``, with time for its scripts to draw."""
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        + ["--virtual-time-budget=10000", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )


def drawn_charts(page) -> dict[str, int]:
    """Per chart section of the page, the marks plotly drew in it (bars and lines)."""
    dom = browser(page, "--dump-dom").stdout
    sections = re.findall(r'<section class="chart" id="chart-(\w+)">(.*?)</section>', dom, re.S)
    return {
        name: len(re.findall(r'class="(?:point|js-line)"', body))
        for name, body in sections
        if 'class="main-svg"' in body
    }


def test_the_timeline_adds_up_to_the_manifest_and_holds_every_batch_once(finished_run):
    manifest = json.loads((finished_run / "manifest.json").read_text())
    timeline = json.loads((finished_run / "timeline.json").read_text())
    batches = timeline["batches"]
    assert sum(b["rows_out"] for b in batches) == manifest["rows_out"] == ROWS
    assert sum(b["rows_rejected"] for b in batches) == manifest["rows_rejected"] == 0
    assert sum(b["records"] for b in batches) == manifest["rows_in"]
    firsts = [b["first_line"] for b in batches]
    assert firsts == [2 + 100 * n for n in range(ROWS // 100)]  # every batch, once
    assert len({b["worker"] for b in batches}) == 2
    assert all(b["started_at"] <= b["stopped_at"] <= b["forwarded_at"] for b in batches)
    assert [p["phase"] for p in timeline["phases"]] == PHASES
    assert timeline["rows_done"][-1][1] == ROWS and timeline["outcome"] == "succeeded"


def test_dask_report_and_the_summarys_charts(finished_run):
    dask_report = (finished_run / "dask-report.html").read_text()
    assert "Dask Performance Report" in dask_report
    assert not re.search(r"<script[^>]+src=\"http", dask_report)  # its JavaScript inlined
    summary = (finished_run / "summary.md").read_text()
    charts = [validate(body) for body in blocks(summary)]
    assert [chart["series"][0][0] for chart in charts] == ["line", "bar"]
    assert charts[1]["categories"] == [f'"{phase}"' for phase in PHASES]


@NEEDS_CHROMIUM
def test_report_html_draws_its_charts_in_a_browser(finished_run, tmp_path):
    page = finished_run / "report.html"
    drawn = drawn_charts(page)
    assert set(drawn) == set(CHARTS), drawn
    assert drawn["tasks"] >= ROWS // 100 and drawn["phases"] == len(PHASES), drawn
    shot = tmp_path / "report.png"
    browser(page, "--window-size=1200,2200", f"--screenshot={shot}")
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16) or []
    assert len(colours) > 50, "the screenshot is blank"


def test_a_failed_runs_report_says_what_failed_and_shows_what_was_done(tmp_path, state_dir):
    code, output = run_with_fault(tmp_path, state_dir, "e2e-0", "source")
    assert code != 0, output
    run = run_dir(tmp_path / "output")
    timeline = json.loads((run / "timeline.json").read_text())
    assert timeline["outcome"] == "failed" and timeline["failures"], timeline["failures"]
    done = timeline["rows_done"][-1][1]
    assert 0 < done <= json.loads((run / "manifest.json").read_text())["rows_out"] < FAULT_ROWS
    page = (run / "report.html").read_text()
    assert "What failed" in page and "source" in page
    assert not (run / "dask-report.html").exists()  # Dask's is written by a source that ends
    if CHROMIUM:
        assert "tasks" in drawn_charts(run / "report.html")
