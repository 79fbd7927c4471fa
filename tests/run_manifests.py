"""Manifests as runs of a cluster leave them in results.dir, a corrupt one, one that is not
burst's and another cluster's among them, for the tests of what reads a cluster's history."""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.burst.cluster.plugins.module_utils import run_history
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    validate_config,
)


def config(base_dir, **changes):
    data = {"name": "hourly", "size": 2, "workers_per_host": 1, **changes}
    return validate_config(data, base_dir)


def manifest(cfg, run_id, rows=1000, seconds=2.0, wall=12.0, **receiver):
    """A manifest as a run of ``cfg`` leaves it: the receiver's keys, then the controller's."""
    written = {
        "complete": True,
        "partial": False,
        "balanced": True,
        "rows_in": rows,
        "rows_out": rows,
        "rows_rejected": 0,
        "results_sha256": "0" * 64,
        "started_at": 1_790_000_000.0,
        "seconds": seconds,
        "classifier": cfg["job"]["classifier"],
        "slowness": cfg["job"]["slowness"],
        **receiver,
    }
    return written | run_history.record(cfg, run_id, 3, wall, 0.0)


RUNS = {
    "20261201T100000Z-aaaa": {},
    "20261201T110000Z-bbbb": {"slowness": 5},
    "20261201T120000Z-cccc": {"complete": False, "partial": True},
}


def write_runs(directory: Path, cfg) -> None:
    """RUNS' manifests in ``directory``, then a corrupt one, one that is not burst's and one of
    cluster 'nightly' (newer than RUNS), and a directory that is not a run's."""
    for run_id, changes in RUNS.items():
        (directory / run_id).mkdir(parents=True)
        text = json.dumps(manifest(cfg, run_id, **changes))
        (directory / run_id / "manifest.json").write_text(text)
    (directory / "20261201T130000Z-dddd").mkdir()
    (directory / "20261201T130000Z-dddd" / "manifest.json").write_text('{"rows_in": 3, ')
    (directory / "20261201T140000Z-eeee").mkdir()
    (directory / "20261201T140000Z-eeee" / "manifest.json").write_text('{"hello": "world"}')
    other = manifest(config(directory), "20261201T150000Z-ffff")
    other["cluster"] = "nightly"
    (directory / "20261201T150000Z-ffff").mkdir()
    (directory / "20261201T150000Z-ffff" / "manifest.json").write_text(json.dumps(other))
    (directory / "notes").mkdir()  # not a run's directory


def upload_runs(s3, url: str, directory: Path, cfg) -> None:
    """write_runs in ``directory``, and each manifest uploaded under the bucket and prefix of
    ``url`` (s3://bucket/prefix), the bucket made first, as a run's upload leaves them."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    s3.create_bucket(Bucket=bucket)
    write_runs(directory, cfg)
    for path in directory.glob("*/manifest.json"):
        key = f"{prefix.strip('/')}/{path.parent.name}/manifest.json"
        s3.upload_file(str(path), bucket, key)
