"""site.yml with rows from S3 and results uploaded to S3, against moto's server on loopback."""

import io
import json
import tarfile

import pytest
from conftest import cluster_file, processes_with_env
from site_runs import read, reference, run_dir, site

pytestmark = pytest.mark.slow


def test_rows_from_a_bucket_and_results_to_a_bucket(tmp_path, state_dir, s3):
    rows = reference(tmp_path, 2000, 4, 100).parent / "in.csv"
    s3.create_bucket(Bucket="team-rows")
    s3.create_bucket(Bucket="team-results")
    s3.upload_file(str(rows), "team-rows", "hourly/rows.csv")
    path = cluster_file(
        tmp_path,
        source={"kind": "s3", "url": "s3://team-rows/hourly/rows.csv"},
        results={"s3": "s3://team-results/burst/"},
    )
    assert "seed" not in path.read_text()

    result = site(path, state_dir)
    assert result.returncode == 0, result.stdout + result.stderr

    run = run_dir(tmp_path / "output")
    got, want = read(run / "results.csv"), read(tmp_path / "reference.csv")
    assert len(got) == 2000 and got["ID"].is_unique
    assert (
        got.sort_values("ID")
        .reset_index(drop=True)
        .equals(want.sort_values("ID").reset_index(drop=True))
    )
    manifest = json.loads((run / "manifest.json").read_text())
    assert (manifest["rows_in"], manifest["rows_out"], manifest["rows_rejected"]) == (2000, 2000, 0)

    listed = s3.list_objects_v2(Bucket="team-results")["Contents"]
    assert sorted(item["Key"] for item in listed) == [
        f"burst/{run.name}/manifest.json",
        f"burst/{run.name}/results.tgz",
    ]
    for name in ("manifest.json", "results.tgz"):
        uploaded = s3.get_object(Bucket="team-results", Key=f"burst/{run.name}/{name}")
        assert uploaded["Body"].read() == (run / name).read_bytes(), name
    with tarfile.open(fileobj=io.BytesIO((run / "results.tgz").read_bytes())) as archive:
        assert "results.csv" in [member.name.split("/")[-1] for member in archive.getmembers()]
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []


def test_a_missing_object_fails_the_run_naming_it(tmp_path, state_dir, s3):
    s3.create_bucket(Bucket="team-rows")
    path = cluster_file(tmp_path, source={"kind": "s3", "url": "s3://team-rows/missing.csv"})
    result = site(path, state_dir)
    assert result.returncode != 0
    assert "cannot read s3://team-rows/missing.csv" in result.stdout
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
    assert not (state_dir / "e2e" / "stack-outputs.json").exists()
