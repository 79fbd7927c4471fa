"""A cluster's run history: what each run's manifest records, read back from results.dir and
results.s3.

``record(...)`` gives the keys the controller adds to a run's manifest once its results are
collected; ``read_history(config)`` reads the cluster's latest manifests back as ``Run``s, every
run with its ``outcome``; ``comparable_runs(runs, config)`` keeps those a prediction for
``config`` may learn from, and the history report shows them all. A manifest that is not a burst
manifest of this cluster (unreadable, not JSON, another cluster's) is skipped with one line in
``History.notes``; nothing here raises for what it reads.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[a-z0-9]{4}$")
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 1024 * 1024  # a manifest is under a few kB; a bigger file is not one
RECEIVER_KEYS = ("rows_in", "rows_out", "results_sha256", "seconds")  # every burst manifest's


@dataclass(frozen=True)
class Run:
    """One run as its manifest records it; a key the manifest lacks is None."""

    run_id: str
    where: str  # the manifest's path, or its s3:// URL
    manifest: dict

    def __getattr__(self, key):
        if key.startswith("_"):
            raise AttributeError(key)
        return self.manifest.get(key)

    @property
    def outcome(self) -> str:
        """succeeded; partial (stopped before the end of the input, nothing else failed);
        failed; or uncollected (a run directory without a manifest)."""
        if not self.manifest:
            return "uncollected"
        if self.succeeded:
            return "succeeded"
        if self.manifest.get("partial") and not self.manifest.get("failures"):
            return "partial"
        return "failed"

    @property
    def succeeded(self) -> bool:
        """Complete, balanced, not partial, and nothing failed on the controller."""
        m = self.manifest
        return bool(
            m.get("complete")
            and m.get("balanced")
            and not m.get("partial")
            and not m.get("failures")
        )


@dataclass
class History:
    runs: list[Run] = field(default_factory=list)  # oldest first
    notes: list[str] = field(default_factory=list)  # one line per manifest or place skipped


def record(
    config: dict, run_id: str, hosts: int, wall_seconds: float, cost, failures=(), predicted=None
) -> dict:
    """The keys the controller adds to a run's manifest: what sizing and the run report read."""
    aws = config.get("aws") or {}
    recorded = {
        "run_id": run_id,
        "cluster": config["name"],
        "provider": config["provider"],
        "instance_type": aws.get("instance_type")
        if config["provider"] == "aws"
        else config["provider"],
        "size": config["size"],
        "hosts": hosts,
        "workers": config["size"] * config["workers_per_host"],
        "wall_seconds": round(wall_seconds, 3),
        "cost": cost,
        "failures": list(failures),
    }
    if predicted is not None:
        recorded["predicted"] = predicted
    return recorded


def read_history(
    config: dict, limit: int | None = None, s3_client=None, uncollected=False
) -> History:
    """The latest ``limit`` (default ``sizing.history``) runs of ``config``'s cluster, from its
    results.dir and, if set, results.s3; a run found in both is read from results.dir.
    ``uncollected``: a run directory without a manifest is a run too, with an empty one."""
    limit = limit or config["sizing"]["history"]
    history = History()
    found = {}
    directory = config["results"]["dir"]
    for run_id, where, data in _from_directory(directory, limit, history.notes, uncollected):
        if data is None:
            found[run_id] = Run(run_id, where, {})
            continue
        found[run_id] = _parse(run_id, where, data, config["name"], history.notes)
    url = config["results"].get("s3")
    if url:
        for run_id, where, data in _from_s3(url, limit, set(found), history.notes, s3_client):
            found[run_id] = _parse(run_id, where, data, config["name"], history.notes)
    history.runs = [found[run_id] for run_id in sorted(found)[-limit:] if found[run_id] is not None]
    return history


def comparable_runs(runs: list[Run], config: dict) -> tuple[list[Run], list[str]]:
    """The runs a prediction for ``config`` may learn from (succeeded, with wall time recorded,
    same provider, instance type, classifier and slowness), and why each other one is left out."""
    wanted = record(config, "", 0, 0, None)
    kept, left_out = [], []
    for run in runs:
        why = None
        if not run.succeeded:
            why = "failed or partial"
        elif run.wall_seconds is None or run.workers is None or not run.rows_in:
            why = "recorded no wall time, workers or rows"
        else:
            for key, mine in (
                ("provider", wanted["provider"]),
                ("instance_type", wanted["instance_type"]),
                ("classifier", config["job"]["classifier"]),
                ("slowness", config["job"]["slowness"]),
            ):
                if run.manifest.get(key) != mine:
                    why = f"{key} {run.manifest.get(key)!r}, not {mine!r}"
                    break
        if why:
            left_out.append(f"run {run.run_id}: {why}")
        else:
            kept.append(run)
    return kept, left_out


def s3_client():
    """boto3's S3 client, found the usual way (AWS_ENDPOINT_URL too), that gives up within
    seconds: a plan or a check without AWS must not wait for it."""
    import boto3
    from botocore.config import Config

    quick = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})
    return boto3.client("s3", config=quick)


def _parse(run_id, where, data: bytes, cluster, notes) -> Run | None:
    if len(data) > MAX_MANIFEST_BYTES:
        notes.append(f"skipped {where}: more than {MAX_MANIFEST_BYTES} bytes, not a burst manifest")
        return None
    try:
        manifest = json.loads(data)
    except ValueError as error:
        notes.append(f"skipped {where}: not JSON ({error})")
        return None
    if not isinstance(manifest, dict) or not all(key in manifest for key in RECEIVER_KEYS):
        notes.append(f"skipped {where}: not a burst manifest (no {', '.join(RECEIVER_KEYS)})")
        return None
    if manifest.get("cluster", cluster) != cluster:
        notes.append(
            f"skipped {where}: a manifest of cluster {str(manifest['cluster'])[:100]!r},"
            f" not {cluster!r}"
        )
        return None
    return Run(run_id, where, manifest)


def _from_directory(directory, limit, notes, uncollected=False):
    try:
        names = sorted((name for name in os.listdir(directory) if RUN_ID.match(name)), reverse=True)
    except FileNotFoundError:
        return
    except OSError as error:
        notes.append(f"skipped {directory}: cannot list it ({error.strerror or error})")
        return
    taken = 0
    for name in names:
        path = os.path.join(directory, name, MANIFEST)
        if taken == limit:
            return
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_MANIFEST_BYTES + 1)
        except FileNotFoundError:  # a run that collected no manifest
            if uncollected:
                taken += 1
                yield name, os.path.dirname(path), None
            continue
        except OSError as error:
            notes.append(f"skipped {path}: cannot read it ({error.strerror or error})")
            continue
        taken += 1
        yield name, path, data


def _from_s3(url, limit, known, notes, client=None):
    bucket, _, prefix = url[len("s3://") :].partition("/")
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        client = client or s3_client()
        run_ids = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/"
        ):
            run_ids += [
                p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])
            ]
    except ImportError as error:
        notes.append(f"skipped {url}: cannot read it without boto3 ({error})")
        return
    except (BotoCoreError, ClientError) as error:
        notes.append(f"skipped {url}: cannot list it ({error})")
        return
    for run_id in sorted((r for r in run_ids if RUN_ID.match(r)), reverse=True)[:limit]:
        if run_id in known:
            continue
        key = f"{prefix}{run_id}/{MANIFEST}"
        where = f"s3://{bucket}/{key}"
        try:
            body = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_MANIFEST_BYTES}")[
                "Body"
            ]
            data = body.read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                notes.append(f"skipped {where}: cannot read it ({error})")
            continue
        except BotoCoreError as error:
            notes.append(f"skipped {where}: cannot read it ({error})")
            continue
        yield run_id, where, data
