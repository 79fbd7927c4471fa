"""site.yml end to end with provider local: results equal the single-process job's."""

import json
import subprocess
import sys
import threading

import pandas as pd
import pytest
from conftest import SEED_STYLE, cluster_file, open_listeners, processes_with_env
from site_runs import read, reference, run_dir, site

pytestmark = pytest.mark.slow


def test_site_gives_the_single_process_answer_and_leaves_nothing(tmp_path, state_dir):
    path = cluster_file(tmp_path)
    marker = f"BURST_STATE_DIR={state_dir}"
    exposed, seen, done = [], [], threading.Event()

    def watch_ports():
        while not done.wait(0.2):
            exposed.extend(open_listeners(marker))
            seen.extend(processes_with_env(marker))

    watcher = threading.Thread(target=watch_ports)
    watcher.start()
    try:
        result = site(path, state_dir)
    finally:
        done.set()
        watcher.join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3000/3000 (100 %) rows" in result.stdout
    run = run_dir(tmp_path / "output")
    for name in ("results.csv", "manifest.json", "results.tgz"):
        assert (run / name).is_file(), name
    for log in ("scheduler", "source", "worker-0", "receiver", "sender"):
        assert list(run.glob(f"logs/*/{log}.log")), log

    got = read(run / "results.csv")
    want = read(reference(tmp_path, 3000, 11, 100))
    assert list(got.columns) == list(want.columns)
    assert got["ID"].is_unique and len(got) == 3000
    merged = want.merge(got, on="ID", suffixes=("", "_burst"), validate="one_to_one")
    assert len(merged) == 3000
    assert (merged["CLASSIFICATION"] == merged["CLASSIFICATION_burst"]).all()

    manifest = pd.read_json(run / "manifest.json", typ="series")
    assert (manifest["rows_in"], manifest["rows_out"], manifest["rows_rejected"]) == (3000, 3000, 0)
    assert manifest["balanced"] and manifest["complete"]
    assert seen, "the port watcher saw none of the run's processes"
    assert exposed == [], "a process of the run listened beyond loopback"
    assert processes_with_env(marker) == []
    assert not (state_dir / "e2e" / "stack-outputs.json").exists()


FAILING_CLASSIFIER = """
import pandas as pd

def classify(frame, *, slowness):
    if "1500" in frame.index:
        raise ValueError("row 1500 is cursed")
    return pd.Series(0.5, index=frame.index)
"""


def test_a_classifier_that_raises_fails_the_run_and_still_tears_down(tmp_path, state_dir):
    (tmp_path / "cursed.py").write_text(FAILING_CLASSIFIER)
    path = cluster_file(tmp_path, job={"classifier": "cursed:classify"})
    result = site(path, state_dir)
    assert result.returncode != 0
    assert "ValueError: row 1500 is cursed" in result.stdout
    assert "batch starting at input line 1402" in result.stdout
    assert "Stop every process of the run on this host" in result.stdout
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
    assert not (state_dir / "e2e" / "stack-outputs.json").exists()
    run = run_dir(tmp_path / "output")
    assert list(run.glob("logs/*/source.log"))


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"size": 0}, "size: 0"),
        ({"job": {"classifier": "no colon"}}, "job.classifier: 'no colon'"),
        (
            {"source": {"kind": "synthetic", "rows": 10, "seed": 1, "path": "x.csv"}},
            "source.path: unknown key",
        ),
    ],
)
def test_an_invalid_file_stops_before_anything_starts(tmp_path, state_dir, override, field):
    result = site(cluster_file(tmp_path, **override), state_dir)
    assert result.returncode != 0
    assert field in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not state_dir.exists()
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []


def test_check_mode_previews_and_starts_nothing(tmp_path, state_dir):
    result = site(cluster_file(tmp_path), state_dir, "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hosts: e2e-0 as initializer, e2e-1 as worker, e2e-metrics as metrics_host" in (
        result.stdout
    )
    assert "source: kind=synthetic, rows=3000, seed=11" in result.stdout
    assert "resources: none to make (provider local)" in result.stdout
    assert not (state_dir / "e2e" / "stack-outputs.json").exists()
    assert not (tmp_path / "output").exists()
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []


def test_a_failure_while_collecting_still_tears_everything_down(tmp_path, state_dir):
    (tmp_path / "not-a-directory").write_text("results cannot go here\n")
    result = site(cluster_file(tmp_path, results={"dir": "not-a-directory"}), state_dir)
    assert result.returncode != 0
    assert "...ignoring" in result.stdout  # the logs cannot be copied either; teardown goes on
    said = " ".join(result.stdout.split())
    assert "the run failed: collect: " in said and "Not a directory" in said
    (kept,) = (state_dir / "e2e" / "kept").iterdir()
    assert f"the complete copy of the results is kept in {kept}" in said
    manifest = json.loads((kept / "manifest.json").read_text())
    assert manifest["complete"] and manifest["rows_out"] == 3000
    assert "Stop every process of the run on this host" in result.stdout
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
    assert not (state_dir / "e2e" / "stack-outputs.json").exists()
    assert not list(state_dir.glob("e2e/runs/*/tls/*"))


def single_process(tmp_path, *args):
    """`python -m classifier *args` run from ``tmp_path``, the user's directory."""
    return subprocess.run(
        [sys.executable, "-m", "classifier", *map(str, args)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=120,
        check=True,
    )


def test_the_seeds_classifier_beside_the_cluster_file_gives_the_single_process_answer(
    tmp_path, state_dir
):
    (tmp_path / "fancy_ml_black_box.py").write_text(SEED_STYLE)
    (tmp_path / "rows.csv").write_bytes(single_process(tmp_path, "generate", "--rows", 1000).stdout)
    classifier = "fancy_ml_black_box:classify_df"
    source = {"kind": "file", "path": "rows.csv"}
    result = site(cluster_file(tmp_path, source=source, job={"classifier": classifier}), state_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    single_process(tmp_path, "classify", "rows.csv", "single.csv", "--classifier", classifier)
    results = (run_dir(tmp_path / "output") / "results.csv").read_bytes()
    assert results == (tmp_path / "single.csv").read_bytes()
    assert len(read(tmp_path / "single.csv")) == 1000


def test_a_classifier_that_cannot_take_its_arguments_stops_the_run_before_it_starts(
    tmp_path, state_dir
):
    (tmp_path / "fancy_ml_black_box.py").write_text(SEED_STYLE)
    job = {"classifier": "fancy_ml_black_box:classify_df", "classifier_args": {"cut": 1}}
    result = site(cluster_file(tmp_path, job=job), state_dir)
    assert result.returncode != 0
    said = " ".join(result.stdout.split()).replace("''", "'")
    assert (
        "job.classifier 'fancy_ml_black_box:classify_df' takes (df), which does not fit the call"
        " classify_df(frame, cut=1): got an unexpected keyword argument 'cut'"
    ) in said
    assert "Traceback" not in result.stdout + result.stderr
    assert not state_dir.exists()
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
