"""Faults mid-run with provider local: a worker killed or frozen, the receiver killed, the
source killed.

Each test starts site.yml, waits until rows are in flight, SIGKILLs one component's
process group (or SIGSTOPs a worker) and checks the outcome and that nothing of the run is
left.
"""

import json
import time

import pytest
from conftest import processes_with_env
from site_runs import FAULT_ROWS as ROWS
from site_runs import FAULT_SEED as SEED
from site_runs import FAULT_SLOWNESS as SLOWNESS
from site_runs import freeze_worker, read, reference, run_dir, run_with_fault

pytestmark = pytest.mark.slow


def test_a_worker_killed_mid_run_loses_no_row_and_doubles_none(tmp_path, state_dir):
    code, output = run_with_fault(tmp_path, state_dir, "e2e-1", "worker-0")
    assert code == 0, output
    run = run_dir(tmp_path / "output")
    got = read(run / "results.csv")
    want = read(reference(tmp_path, ROWS, SEED, SLOWNESS))
    assert got["ID"].is_unique and len(got) == ROWS
    assert got.equals(want)
    manifest = json.loads((run / "manifest.json").read_text())
    (lost,) = manifest["lost_workers"]
    assert lost.startswith("tls://127.0.0.1:") and lost.endswith(" (e2e-1-0)")
    assert manifest["stalled_workers"] == []
    said = " ".join(output.split())  # the YAML callback folds long lines
    assert f"lost mid-run (their batches ran elsewhere): {lost}" in said
    assert f"`{lost}`" in (run / "summary.md").read_text()
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []


def test_a_frozen_workers_batches_run_elsewhere_and_the_summary_names_it(tmp_path, state_dir):
    code, output = run_with_fault(
        tmp_path, state_dir, "e2e-1", "worker-0", fault=freeze_worker, job={"stall_timeout": 5}
    )
    assert code == 0, output
    run = run_dir(tmp_path / "output")
    got = read(run / "results.csv")
    assert got["ID"].is_unique and len(got) == ROWS
    assert got.equals(read(reference(tmp_path, ROWS, SEED, SLOWNESS)))
    manifest = json.loads((run / "manifest.json").read_text())
    (stalled,) = manifest["stalled_workers"]
    assert manifest["lost_workers"] == []
    assert stalled.startswith("tls://127.0.0.1:") and stalled.endswith(" (e2e-1-0)")
    said = " ".join(output.split())  # the YAML callback folds long lines
    assert f"removed mid-run as stalled (their batches ran elsewhere): {stalled}" in said
    assert f"`{stalled}`" in (run / "summary.md").read_text()
    assert f"worker {stalled} stalled" in (run / "logs" / "e2e-0" / "source.log").read_text()
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []


# So many rows that the sender is still sending, held back by the source, when it is killed.
MANY_ROWS = {"source": {"kind": "synthetic", "rows": 400_000, "seed": SEED}}


@pytest.mark.parametrize(
    ("host", "component", "overrides", "message"),
    [
        ("e2e-metrics", "receiver", {}, "receiver died before the run finished"),
        ("e2e-0", "source", {}, "source: connection closed before the end of the results"),
        ("e2e-metrics", "sender", MANY_ROWS, "Wait for the results: sender died before the run"),
    ],
)
def test_a_killed_component_fails_the_run_naming_it(
    tmp_path, state_dir, host, component, overrides, message
):
    began = time.monotonic()
    code, output = run_with_fault(tmp_path, state_dir, host, component, overrides=overrides)
    assert code != 0
    assert message in output, output
    assert time.monotonic() - began < 90
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
    assert not (state_dir / "e2e" / "stack-outputs.json").exists()
