"""`make bench` on tiny inputs: every section runs, the three files are written, every
contender gives the single process's rows, and nothing it started is left running."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import REPO, processes_with_env

pytestmark = pytest.mark.slow

SUITE = Path(__file__).with_name("suite.py")


def test_the_smoke_run_writes_results_json_markdown_and_png(tmp_path):
    marker = f"BURST_BENCH_SMOKE={uuid.uuid4().hex}"
    name, value = marker.split("=")
    done = subprocess.run(
        [sys.executable, SUITE, "--smoke", "--out", tmp_path],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, name: value, "PYTHONPATH": str(REPO / "collections")},  # as make bench
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert processes_with_env(marker) == []

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["size"] == "smoke"
    assert set(results["machine"]) >= {"cores", "memory_gib", "python", "pandas", "dask"}
    workers = [entry["workers"] for entry in results["efficiency"]]
    assert workers == list(range(1, results["machine"]["cores"] + 1))
    assert all(entry["efficiency"] > 0 for entry in results["efficiency"])
    assert all(entry["machine_ceiling"] > 0 for entry in results["efficiency"])
    assert [(e["rows"], e["slowness"]) for e in results["sweep"]] == [(300, 10), (300, 100)]
    assert all(set(e["efficiency"]) == {"auto", "50"} for e in results["sweep"])
    assert all(v > 0 for e in results["sweep"] for v in e["efficiency"].values())
    assert all(e["rounds"] == 1 for e in results["sweep"])  # smoke: one round a cell
    contenders = results["throughput"]["contenders"]
    assert set(contenders) == {
        "single process (pandas)",
        "burst",
        "Dask DataFrame by hand",
        "burst, one record per frame",
        "burst without TLS (plain TCP, the app by hand)",
    }
    assert all(entry["same_as_single_process"] for entry in contenders.values())
    assert all(entry["rows_per_s"] > 0 for entry in contenders.values())
    assert results["growth"]["rows"] == [300, 3000]
    assert set(results["growth"]["peak_rss_ratio"]) == {"sender", "source", "receiver"}
    overhead = results["overhead"]
    assert 0 < overhead["job_s"] < overhead["wall_s"]
    assert {"start", "wait for the job", "tear down and report"} <= set(overhead["phases"])
    assert (overhead["rows"], overhead["slowness"], overhead["workers"]) == (200, 10, 2)
    assert overhead["efficiency"] > 0 and overhead["machine_ceiling"] > 0
    report = results["report_cost"]
    assert [len(report["job_seconds"][kind]) for kind in ("without", "with")] == [1, 1]
    assert report["median_with"] > 0 and report["median_without"] > 0

    table = (tmp_path / "results.md").read_text()
    assert table.startswith("Smoke run on tiny inputs: the targets do not apply.")
    assert "| what | measured | target | met |" in table
    assert table.count("\n| burst") >= 2
    assert "| the run report's cost to the job" in table
    assert "| make run's parallel efficiency ÷ the machine's ceiling" in table
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
