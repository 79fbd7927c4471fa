"""Faults mid-run with provider local: a worker killed, the receiver killed, the source killed.

Each test starts site.yml, waits until rows are in flight, SIGKILLs one component's
process group and checks the outcome and that nothing of the run is left.
"""

import time

import pytest
from conftest import processes_with_env
from site_runs import FAULT_ROWS as ROWS
from site_runs import FAULT_SEED as SEED
from site_runs import FAULT_SLOWNESS as SLOWNESS
from site_runs import read, reference, run_dir, run_with_fault


def test_a_worker_killed_mid_run_loses_no_row_and_doubles_none(tmp_path, state_dir):
    code, output = run_with_fault(tmp_path, state_dir, "e2e-1", "worker-0")
    assert code == 0, output
    got = read(run_dir(tmp_path / "output") / "results.csv")
    want = read(reference(tmp_path, ROWS, SEED, SLOWNESS))
    assert got["ID"].is_unique and len(got) == ROWS
    assert got.equals(want)
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []


@pytest.mark.parametrize(
    ("host", "component", "message"),
    [
        ("e2e-metrics", "receiver", "receiver died before the run finished"),
        ("e2e-0", "source", "source: connection closed before the end of the results"),
    ],
)
def test_a_killed_component_fails_the_run_naming_it(tmp_path, state_dir, host, component, message):
    began = time.monotonic()
    code, output = run_with_fault(tmp_path, state_dir, host, component)
    assert code != 0
    assert message in output
    assert time.monotonic() - began < 90
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
    assert not (state_dir / "e2e" / "stack-outputs.json").exists()
