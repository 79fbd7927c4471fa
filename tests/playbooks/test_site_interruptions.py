"""Interrupted runs with provider local: the job's timeout, a signal to ansible-playbook, and a
second run of the same cluster while one runs.

Each test checks what the user is told, what is kept, and that no process of the run survives.
"""

import json
import signal
import time

import pytest
from conftest import cluster_file, processes_with_env
from site_runs import FAULT_ROWS, FAULT_SEED, FAULT_SLOWNESS, read, reference, run_dir, site
from site_runs import start_site as start

pytestmark = pytest.mark.slow

SLOW_JOB = {
    "source": {"kind": "synthetic", "rows": FAULT_ROWS, "seed": FAULT_SEED},
    "job": {"slowness": FAULT_SLOWNESS, "batch_rows": 100, "timeout": 120},
}


def _wait_for_rows(state_dir, rows=400, deadline=240):
    """The run's progress once its receiver has ``rows`` out."""
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        for progress in state_dir.glob("e2e/hosts/*/runs/*/results/progress.json"):
            try:
                if json.loads(progress.read_text()).get("rows_out", 0) >= rows:
                    return
            except (OSError, ValueError):
                pass
        time.sleep(0.05)
    raise AssertionError(f"no {rows} rows out within {deadline} s")


def _gone_within(seconds, marker):
    """The run's processes still alive after ``seconds`` (an empty list when all are gone)."""
    deadline = time.monotonic() + seconds
    while (left := processes_with_env(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_the_job_timeout_fails_the_run_and_keeps_partial_results(tmp_path, state_dir):
    slower = {**SLOW_JOB["job"], "slowness": 10 * FAULT_SLOWNESS, "timeout": 15}  # 40 s and more
    path = cluster_file(tmp_path, **{**SLOW_JOB, "job": slower})
    done = site(path, state_dir)
    assert done.returncode != 0, done.stdout
    output = done.stdout
    assert "job.timeout: the run did not finish within 15 s" in output, output
    run = run_dir(tmp_path / "output")
    assert f"partial results kept in {run}" in output

    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["partial"] is True and manifest["complete"] is False
    # every process is stopped at once: the receiver hears of its own SIGTERM or the source's
    assert manifest["error"] in (
        "receiver: stopped by SIGTERM before the end of the results",
        "source: stopped by SIGTERM",
    )
    got = read(run / "results.csv")
    assert 0 < len(got) == manifest["rows_out"] < FAULT_ROWS
    # the rows kept are the input's first (synthetic rows do not depend on how many follow)
    first = min(len(got), 200)
    want = read(reference(tmp_path, first, FAULT_SEED, 10 * FAULT_SLOWNESS))
    assert got.head(first).equals(want)
    assert got["ID"].tolist() == [str(n) for n in range(1, len(got) + 1)]
    summary = (run / "summary.md").read_text()
    assert "(**partial**: the run stopped before the end of the input)" in summary
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
    assert not (state_dir / "e2e" / "stack-outputs.json").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_ansible_playbook_ends_every_process_of_the_run(tmp_path, state_dir, signum):
    marker = f"BURST_STATE_DIR={state_dir}"
    run = start(cluster_file(tmp_path, **SLOW_JOB), state_dir)
    try:
        _wait_for_rows(state_dir)
        components = [p for p in processes_with_env(marker) if " -m classifier " in p[1]]
        assert len(components) >= 5, components  # 2 workers, scheduler, source, receiver, …
        run.send_signal(signum)  # to ansible-playbook alone, not to its process group
        run.communicate(timeout=60)
        assert run.returncode != 0
        assert _gone_within(10, marker) == []
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()

    # The next run finds the lock of a controller that is gone, says so, and runs.
    again = site(cluster_file(tmp_path, source={"kind": "synthetic", "rows": 300}), state_dir)
    assert again.returncode == 0, again.stdout
    assert "of this cluster was interrupted" in again.stdout
    assert list(state_dir.glob("e2e/runs/*/tls/*")) == []  # no key of either run is left
    assert processes_with_env(marker) == []


def test_a_second_run_of_a_running_cluster_is_refused(tmp_path, state_dir):
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    first = start(cluster_file(first_dir, **SLOW_JOB), state_dir)
    try:
        _wait_for_rows(state_dir, rows=100)
        second = site(cluster_file(second_dir), state_dir)
        output, _ = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert second.returncode != 0
    assert "cluster 'e2e' is already running: run " in second.stdout, second.stdout
    assert "wait for it to finish or stop it (Ctrl-C), then try again" in second.stdout
    assert not (second_dir / "output").exists()  # it started nothing

    assert first.returncode == 0, output  # and the first run went on untouched
    manifest = json.loads((run_dir(first_dir / "output") / "manifest.json").read_text())
    assert manifest["rows_out"] == FAULT_ROWS and manifest["complete"]
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
