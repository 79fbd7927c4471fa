"""Collected means verified: a run whose results cannot be collected whole fails, and keeps the
complete copy (provider local, through site.yml, results.dir on a small tmpfs)."""

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import cluster_file, processes_with_env
from site_runs import read, reference, site

ROWS, SEED, SLOWNESS = 30_000, 11, 1

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="mounting a small tmpfs needs root (make test in CI runs as root)"
    ),
]


@pytest.fixture
def small_disk(tmp_path):
    """A 200 KB tmpfs: too small for the results of ROWS rows."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", mount], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", mount], check=True)


def test_a_full_disk_fails_the_run_and_keeps_the_complete_copy(tmp_path, state_dir, small_disk):
    path = cluster_file(
        tmp_path,
        source={"kind": "synthetic", "rows": ROWS, "seed": SEED},
        job={"slowness": SLOWNESS, "batch_rows": 1000},
        results={"dir": str(small_disk)},
    )
    done = site(path, state_dir)
    assert done.returncode != 0, done.stdout
    assert "the run failed: collect: " in done.stdout, done.stdout
    assert "No space left on device" in done.stdout
    found = re.search(r"the complete copy of the results is kept in (\S+?)[;) ]", done.stdout)
    assert found, done.stdout
    kept = Path(found.group(1))
    assert kept.parent == state_dir / "e2e" / "kept"

    manifest = json.loads((kept / "manifest.json").read_text())
    assert manifest["complete"] and (manifest["rows_in"], manifest["rows_out"]) == (ROWS, ROWS)
    results = (kept / "results.csv").read_bytes()
    assert hashlib.sha256(results).hexdigest() == manifest["results_sha256"]
    assert read(kept / "results.csv").equals(read(reference(tmp_path, ROWS, SEED, SLOWNESS)))
    for summary in small_disk.glob("*/summary.md"):
        assert summary.read_text().strip(), "summary.md came out empty"
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
