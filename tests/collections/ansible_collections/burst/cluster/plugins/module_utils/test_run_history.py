"""run_history: a cluster's runs read back from results.dir and from S3 (moto's server)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.burst.cluster.plugins.module_utils import run_history
from run_manifests import RUNS, config, manifest, upload_runs, write_runs


def test_history_from_results_dir_skips_corrupt_and_foreign_manifests_with_a_line(tmp_path):
    cfg = config(tmp_path)
    write_runs(tmp_path / "output", cfg)

    history = run_history.read_history(cfg)

    assert [run.run_id for run in history.runs] == list(RUNS)
    assert history.runs[1].slowness == 5 and history.runs[0].workers == 2
    assert len(history.notes) == 3, history.notes
    skipped = {note.split("/")[-2]: note for note in history.notes}
    assert "not JSON" in skipped["20261201T130000Z-dddd"]
    assert "not a burst manifest" in skipped["20261201T140000Z-eeee"]
    assert "cluster 'nightly', not 'hourly'" in skipped["20261201T150000Z-ffff"]
    assert all("\n" not in note and "Traceback" not in note for note in history.notes)

    kept, left_out = run_history.comparable_runs(history.runs, cfg)
    assert [run.run_id for run in kept] == ["20261201T100000Z-aaaa"]
    assert left_out == [
        "run 20261201T110000Z-bbbb: slowness 5, not 1000",
        "run 20261201T120000Z-cccc: failed or partial",
    ]


def test_comparable_runs_leave_out_another_instance_type_and_a_run_that_failed(tmp_path):
    cfg = config(tmp_path, provider="aws", aws={"ssh_cidr": "203.0.113.7/32"})
    bigger = config(
        tmp_path, provider="aws", aws={"ssh_cidr": "203.0.113.7/32", "instance_type": "c5.2xlarge"}
    )
    runs = [
        run_history.Run("20261201T100000Z-aaaa", "a", manifest(cfg, "20261201T100000Z-aaaa")),
        run_history.Run("20261201T110000Z-bbbb", "b", manifest(bigger, "20261201T110000Z-bbbb")),
        run_history.Run(
            "20261201T120000Z-cccc",
            "c",
            manifest(cfg, "20261201T120000Z-cccc") | {"failures": ["teardown: boom"]},
        ),
    ]
    kept, left_out = run_history.comparable_runs(runs, cfg)
    assert [run.run_id for run in kept] == ["20261201T100000Z-aaaa"]
    assert left_out[0] == "run 20261201T110000Z-bbbb: instance_type 'c5.2xlarge', not 'c5.xlarge'"
    assert left_out[1] == "run 20261201T120000Z-cccc: failed or partial"


def test_history_from_s3_and_results_dir_together(tmp_path, s3):
    cfg = config(tmp_path, results={"s3": "s3://team-results/burst/"})
    upload_runs(s3, cfg["results"]["s3"], tmp_path / "uploaded", cfg)
    s3.put_object(Bucket="team-results", Key="burst/20261201T090000Z-zzzz/results.tgz", Body=b"")
    local = tmp_path / "output" / "20261201T160000Z-gggg"
    local.mkdir(parents=True)
    (local / "manifest.json").write_text(json.dumps(manifest(cfg, local.name, rows=7)))
    # the same run in both places is read once, from results.dir
    (tmp_path / "output" / "20261201T100000Z-aaaa").mkdir()
    copy = manifest(cfg, "20261201T100000Z-aaaa", rows=11)
    (tmp_path / "output" / "20261201T100000Z-aaaa" / "manifest.json").write_text(json.dumps(copy))

    history = run_history.read_history(cfg)

    assert [run.run_id for run in history.runs] == [*RUNS, "20261201T160000Z-gggg"]
    assert history.runs[0].rows_in == 11 and history.runs[0].where.endswith("manifest.json")
    assert history.runs[1].where == "s3://team-results/burst/20261201T110000Z-bbbb/manifest.json"
    assert sorted(note.split(": ", 1)[1] for note in history.notes) == [
        "a manifest of cluster 'nightly', not 'hourly'",
        "not JSON (Expecting property name enclosed in double quotes: line 1 column 16 (char 15))",
        "not a burst manifest (no rows_in, rows_out, results_sha256, seconds)",
    ]


def test_history_keeps_the_latest_runs(tmp_path):
    cfg = config(tmp_path, sizing={"history": 2})
    write_runs(tmp_path / "output", cfg)
    history = run_history.read_history(cfg)
    # the two newest manifests are the foreign ones: skipped, and the limit counts them
    assert history.runs == [] and len(history.notes) == 2


def test_s3_that_cannot_be_reached_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    cfg = config(tmp_path, results={"s3": "s3://team-results/burst"})
    history = run_history.read_history(cfg)
    assert history.runs == []
    (note,) = history.notes
    assert note.startswith("skipped s3://team-results/burst: cannot list it (")


@pytest.mark.parametrize("text", ["[1, 2]", "\xff\xfe", "null", "x" * (2 << 20)])
def test_anything_in_a_manifest_file_is_skipped_never_raised(tmp_path, text):
    cfg = config(tmp_path)
    run = tmp_path / "output" / "20261201T100000Z-aaaa"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(text, encoding="utf-8", errors="surrogateescape")
    history = run_history.read_history(cfg)
    assert history.runs == [] and len(history.notes) == 1
    assert history.notes[0].startswith(f"skipped {run / 'manifest.json'}: ")
