"""Faults mid-run with provider local: a worker killed, the receiver killed, the source killed.

Each test starts site.yml, waits until rows are in flight, SIGKILLs one component's
process group and checks the outcome and that nothing of the run is left.
"""

import json
import os
import signal
import subprocess
import time

from conftest import BIN, REPO, ansible_env, processes_with_env
from site_runs import cluster_file, read, reference, run_dir

ROWS, SEED, SLOWNESS = 8000, 3, 2000


def start_site(path, state_dir):
    return subprocess.Popen(
        [str(BIN / "ansible-playbook"), "playbooks/site.yml", "-e", f"cluster_file={path}"],
        cwd=REPO,
        env=ansible_env(ANSIBLE_CONFIG=REPO / "ansible.cfg", BURST_STATE_DIR=state_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_when_rows_flow(state_dir, host, component, deadline=120):
    """SIGKILL ``component``'s process group on ``host`` once the receiver has rows out."""
    runs = state_dir / "hosts" / host / "runs"
    progress_files = state_dir / "hosts"
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        for progress in progress_files.glob("*/runs/*/results/progress.json"):
            try:
                rows_out = json.loads(progress.read_text()).get("rows_out", 0)
            except (OSError, ValueError):
                continue
            pidfiles = list(runs.glob(f"*/{component}.pid"))
            if rows_out >= 400 and pidfiles:
                pid = int(pidfiles[0].read_text())
                os.killpg(os.getpgid(pid), signal.SIGKILL)
                return rows_out
        time.sleep(0.05)
    raise AssertionError(f"no rows flowed within {deadline} s")


def run_with_fault(tmp_path, state_dir, host, component):
    path = cluster_file(
        tmp_path,
        source={"kind": "synthetic", "rows": ROWS, "seed": SEED},
        job={"slowness": SLOWNESS, "batch_rows": 100, "timeout": 120},
    )
    site = start_site(path, state_dir)
    try:
        rows_out = kill_when_rows_flow(state_dir, host, component)
        output, _ = site.communicate(timeout=300)
    finally:
        if site.poll() is None:
            site.kill()
            site.wait()
    assert rows_out < ROWS, "the fault came after the last row"
    return site.returncode, output


def test_a_worker_killed_mid_run_loses_no_row_and_doubles_none(tmp_path, state_dir):
    code, output = run_with_fault(tmp_path, state_dir, "e2e-1", "worker-0")
    assert code == 0, output
    got = read(run_dir(tmp_path / "output") / "results.csv")
    want = read(reference(tmp_path, ROWS, SEED, SLOWNESS))
    assert got["ID"].is_unique and len(got) == ROWS
    assert got.equals(want)
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []


def test_a_killed_receiver_fails_the_run_naming_it(tmp_path, state_dir):
    began = time.monotonic()
    code, output = run_with_fault(tmp_path, state_dir, "e2e-metrics", "receiver")
    assert code != 0
    assert "receiver died before the run finished" in output
    assert time.monotonic() - began < 90
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
    assert not (state_dir / "stack-outputs.json").exists()


def test_a_killed_source_fails_the_run_naming_it(tmp_path, state_dir):
    began = time.monotonic()
    code, output = run_with_fault(tmp_path, state_dir, "e2e-0", "source")
    assert code != 0
    assert "source: connection closed before the end of the results" in output
    assert time.monotonic() - began < 90
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
    assert not (state_dir / "stack-outputs.json").exists()
