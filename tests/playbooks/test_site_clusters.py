"""Two clusters of one checkout, run at once with site.yml: each keeps its own state, and a
run whose ports another cluster holds is refused at once."""

import json
import os
import re
import time
from pathlib import Path

import pytest
import yaml
from conftest import cluster_file, processes_with_env
from site_runs import read, reference, start_site

pytestmark = pytest.mark.slow

# Sleeps a second per batch, so that a run lasts long on little CPU; classifies as the black box.
SLOW_CLASSIFIER = """
import time

from classifier.black_box import classify as black_box


def classify(frame, *, slowness):
    time.sleep(1)
    return black_box(frame, slowness=slowness)
"""
SLOWNESS = 100


JOB = {"slowness": SLOWNESS, "batch_rows": 50, "timeout": 300}


def write_long(directory: Path) -> Path:
    """Cluster file ``long.yaml``: about 40 s of sleeping batches on two workers."""
    (directory / "slow.py").write_text(SLOW_CLASSIFIER)
    return cluster_file(
        directory,
        "long.yaml",
        name="long",
        source={"kind": "synthetic", "rows": 4000, "seed": 5},
        job={**JOB, "classifier": "slow:classify"},
    )


def write_short(directory: Path, **changes) -> Path:
    """Cluster file ``short.yaml`` beside it, which ``changes`` change."""
    source = {"kind": "synthetic", "rows": 1000, "seed": 6}
    return cluster_file(directory, "short.yaml", name="short", source=source, job=JOB, **changes)


def finish(run, timeout=400):
    output, _ = run.communicate(timeout=timeout)
    return run.returncode, output, time.time()


def results_of(tmp_path: Path, cluster: str) -> Path:
    """The output directory of the run of ``cluster``: the one with its hosts' logs."""
    (found,) = [
        run for run in (tmp_path / "output").iterdir() if (run / "logs" / f"{cluster}-0").is_dir()
    ]
    return found


def assert_single_process_rows(tmp_path, run: Path, rows: int, seed: int):
    got = read(run / "results.csv")
    (tmp_path / f"reference-{seed}").mkdir(exist_ok=True)
    want = read(reference(tmp_path / f"reference-{seed}", rows, seed, SLOWNESS))
    assert got.equals(want), f"{run}: not the single process's rows"
    manifest = json.loads((run / "manifest.json").read_text())
    assert (manifest["rows_in"], manifest["rows_out"]) == (rows, rows)
    return manifest


def wait_for_rows(directory: Path, deadline=240):
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        for progress in directory.glob("hosts/*/runs/*/results/progress.json"):
            try:
                if json.loads(progress.read_text()).get("rows_out", 0) > 0:
                    return
            except (OSError, ValueError):
                pass
        time.sleep(0.1)
    raise AssertionError(f"no rows flowed in {directory} within {deadline} s")


def test_two_clusters_of_one_directory_run_at_once_each_with_its_own_state(tmp_path):
    """No $BURST_STATE_DIR: the state goes beside the cluster files, under each one's name."""
    long, short = write_long(tmp_path), write_short(tmp_path)
    marker = {"BURST_TEST_RUN": str(tmp_path)}
    runs = [start_site(long, None, **marker)]
    try:
        wait_for_rows(tmp_path / ".burst" / "long")  # the short run then ends mid-way through it
        runs.append(start_site(short, None, **marker))
        (short_code, short_output, short_ended) = finish(runs[1])
        seen_mid_run = list((tmp_path / ".burst" / "long" / "hosts").glob("*/runs/*"))
        (long_code, long_output, _) = finish(runs[0])
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.communicate()
    assert short_code == 0, short_output
    assert long_code == 0, long_output

    long_manifest = assert_single_process_rows(tmp_path, results_of(tmp_path, "long"), 4000, 5)
    assert_single_process_rows(tmp_path, results_of(tmp_path, "short"), 1000, 6)
    # the short run ended, and tore its cluster down, while the long one was sending rows
    assert long_manifest["started_at"] < short_ended < long_manifest["finished_at"]
    assert seen_mid_run, "the long run's host directories were gone when the short one ended"
    for cluster in ("long", "short"):
        logs = {path.name for path in results_of(tmp_path, cluster).glob("logs/*/*.log")}
        assert {"scheduler.log", "source.log", "receiver.log", "sender.log"} <= logs, logs
    assert sorted(path.name for path in (tmp_path / ".burst").iterdir()) == ["long", "short"]
    assert not list((tmp_path / ".burst").glob("*/stack-outputs.json"))
    assert processes_with_env(f"BURST_TEST_RUN={tmp_path}") == []


def test_a_cluster_on_ports_another_holds_is_refused_at_once(tmp_path, state_dir):
    long = write_long(tmp_path)
    ports = yaml.safe_load(long.read_text())["ports"]
    same_ports = write_short(tmp_path, ports=ports)
    marker = f"BURST_STATE_DIR={state_dir}"
    first = start_site(long, state_dir)
    second = None
    try:
        wait_for_rows(state_dir / "long")
        began = time.monotonic()
        second = start_site(same_ports, state_dir)
        code, output, _ = finish(second, timeout=120)
        refused_in = time.monotonic() - began
        assert first.poll() is None, "the first run ended before the second was refused"
        held = re.search(
            rf"ports.scheduler {ports['scheduler']} on 127.0.0.1 is taken by (\S+) \(pid (\d+)\)",
            output,
        )
        assert held, output
        pidfile = next((state_dir / "long" / "hosts" / "long-0" / "runs").glob("*/scheduler.pid"))
        assert os.getpgid(int(held[2])) == int(pidfile.read_text()), "not the first's scheduler"
        first_code, first_output, _ = finish(first)
    finally:
        for run in (first, second):
            if run is not None and run.poll() is None:
                run.kill()
                run.communicate()

    assert code != 0
    assert f"ports.receiver {ports['receiver']} on 127.0.0.1 is taken by" in output
    assert "the run failed: Check that the ports are free:" in output
    assert "included: burst.cluster.worker" not in output  # nothing of it started
    print(f"refused in {refused_in:.1f} s: {held[0]}")
    assert refused_in < 30, f"the second run took {refused_in:.1f} s to be refused"

    assert first_code == 0, first_output
    assert_single_process_rows(tmp_path, results_of(tmp_path, "long"), 4000, 5)
    assert not (state_dir / "short" / "stack-outputs.json").exists()
    assert processes_with_env(marker) == []
