"""The run's report through site.yml: report.html, timeline.json, dask-report.html and the
summary's Mermaid charts, from a run that succeeds and from one whose source is killed; then
`make report`'s history.html of those two runs. Both pages are opened in a real headless browser
(Debian's chromium, which `make test` installs as root)."""

import json
import re
import shutil

import pytest
from browser_pages import CHROMIUM, NEEDS_CHROMIUM, browser, drawn_charts
from conftest import REPO, ansible, cluster_file
from mermaid_xychart import blocks, validate
from PIL import Image
from site_runs import FAULT_ROWS, run_dir, run_with_fault, site

pytestmark = pytest.mark.slow

ROWS = 3000
PHASES = ["provision", "install", "start", "job", "collect", "teardown"]
CHARTS = ("rows", "tasks", "phases", "counts", "predicted")  # every run is sized


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


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    """A run whose source is killed mid-run: its directory."""
    tmp_path = tmp_path_factory.mktemp("failed")
    code, output = run_with_fault(tmp_path, tmp_path / "state", "e2e-0", "source")
    assert code != 0, output
    return run_dir(tmp_path / "output")


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
    assert [chart["series"][0][0] for chart in charts] == ["line", "bar", "bar"]
    assert charts[1]["categories"] == [f'"{phase}"' for phase in PHASES]
    # the run time of the cluster's runs, this one the only one, as its manifest records it
    wall = json.loads((finished_run / "manifest.json").read_text())["wall_seconds"]
    assert charts[2]["title"] == "run time over the last 1 run(s) (s)"
    assert charts[2]["series"] == [("bar", [round(wall, 1)])]


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


def test_a_failed_runs_report_says_what_failed_and_shows_what_was_done(failed_run):
    run = failed_run
    timeline = json.loads((run / "timeline.json").read_text())
    assert timeline["outcome"] == "failed" and timeline["failures"], timeline["failures"]
    done = timeline["rows_done"][-1][1]
    assert 0 < done <= json.loads((run / "manifest.json").read_text())["rows_out"] < FAULT_ROWS
    page = (run / "report.html").read_text()
    assert "What failed" in page and "source" in page
    assert not (run / "dask-report.html").exists()  # Dask's is written by a source that ends
    if CHROMIUM:
        assert "tasks" in drawn_charts(run / "report.html")


def test_make_reports_history_of_the_two_runs_marks_the_failed_one(
    finished_run, failed_run, tmp_path
):
    """Both runs are of cluster e2e: in one results.dir, with a corrupt manifest, they are its
    history."""
    path = cluster_file(tmp_path, job={"deadline": "10m"})
    for run in (finished_run, failed_run):
        shutil.copytree(run, tmp_path / "output" / run.name)
    corrupt = tmp_path / "output" / "20200101T000000Z-zzzz" / "manifest.json"
    corrupt.parent.mkdir()
    corrupt.write_text("{")

    done = ansible(
        "ansible-playbook",
        "playbooks/report.yml",
        "-e",
        f"cluster_file={path}",
        cwd=REPO,
        ANSIBLE_CONFIG=REPO / "ansible.cfg",
    )

    output = " ".join(done.stdout.split())
    assert done.returncode == 0, output
    assert "history.html: 2 run(s) of e2e" in output
    assert f"skipped {corrupt}: not JSON" in output
    page = tmp_path / "output" / "history.html"
    table = re.findall(r'<tr class="(\w+)"><td>(?:<a [^>]+>)?(\w+-\w+)', page.read_text())
    runs = sorted((finished_run, failed_run), key=lambda run: run.name, reverse=True)
    outcomes = {finished_run.name: "succeeded", failed_run.name: "failed"}
    assert table == [(outcomes[run.name], run.name) for run in runs]
    for run in runs:
        manifest = json.loads((run / "manifest.json").read_text())
        rate = (manifest["rows_out"] + manifest["rows_rejected"]) / manifest["seconds"]
        assert f"<td>{round(rate / manifest['workers'], 1)}</td>" in page.read_text()
    if CHROMIUM:
        drawn = drawn_charts(page)
        # per chart: a line through the runs and a marker each; the run time's chart also the
        # deadline's line, and its key in the legend
        assert drawn == {"rows": 3, "time": 5, "rate": 3, "cost": 3}, drawn
