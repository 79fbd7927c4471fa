"""burst.cluster.verify_results: collected results against the manifest the receiver wrote."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from ansible_collections.burst.cluster.plugins.modules import verify_results
from module_runner import runner

from classifier.receiver import Results

HEADER = b"ID,DESCRIPTION,CLASSIFICATION\n"
ROWS = b'1,plain,0.5\n2,"a line\nbreak, and a ""quote""",0.25\n3,x,0.75\n'


@pytest.fixture
def run(monkeypatch):
    return runner(monkeypatch, verify_results.main)


def receive(out: Path, header=HEADER, rows=ROWS, count=3, rejects=()) -> dict:
    """What the receiver leaves for a run of ``count`` rows."""
    results = Results(out)
    results.write_rows(header)
    results.write_rows(rows)
    results.rows_out = count
    if rejects:
        results.write_rejects(list(rejects))
    results.summary["rows_in"] = count + len(rejects)
    return results.finish(complete=True)


def test_results_that_match_their_manifest_pass(run, tmp_path):
    manifest = receive(tmp_path, rejects=[[7, "blank line", ""]])
    result = run(path=str(tmp_path))
    assert result["failed"] is False, result
    assert result["manifest"] == manifest


@pytest.mark.parametrize(
    ("header", "rows", "count"),
    [(b"", b"", 0), (HEADER, b"", 0)],
    ids=["empty-input", "header-only"],
)
def test_inputs_without_rows_pass(run, tmp_path, header, rows, count):
    receive(tmp_path, header, rows, count)
    assert run(path=str(tmp_path))["failed"] is False


def cut(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda d: cut(d / "results.csv", 40), "results.csv has sha256"),
        (lambda d: (d / "results.csv").write_bytes(HEADER + ROWS + b"4,y,0.1\n"), "sha256"),
        (lambda d: cut(d / "results.tgz", 100), "results.tgz cannot be read to its end"),
        (lambda d: (d / "results.tgz").unlink(), "results.tgz cannot be read"),
        (lambda d: cut(d / "manifest.json", 10), "manifest.json cannot be read"),
        (lambda d: cut(d / "rejects.csv", 20), "rejects.csv has 0 rows, the manifest says 1"),
        (lambda d: (d / "results.csv").unlink(), "No such file or directory"),
    ],
    ids=["cut", "grown", "tgz-cut", "tgz-missing", "manifest-cut", "rejects-cut", "no-results"],
)
def test_results_that_differ_from_their_manifest_fail_naming_the_file(
    run, tmp_path, damage, expected
):
    receive(tmp_path, rejects=[[7, "blank line", ""]])
    damage(tmp_path)
    result = run(path=str(tmp_path))
    assert result["failed"] is True
    assert result["msg"].startswith(f"the results collected in {tmp_path} do not match")
    assert expected in result["msg"], result["msg"]


def test_a_manifest_with_the_wrong_count_fails(run, tmp_path):
    receive(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "rows_out": 4}))
    result = run(path=str(tmp_path))
    assert "results.csv has 3 rows, the manifest says 4" in result["msg"]


def test_an_archive_holding_another_results_csv_fails(run, tmp_path):
    receive(tmp_path)
    other = tmp_path / "other"
    receive(other, rows=ROWS + b"4,y,0.1\n", count=4)
    (tmp_path / "results.tgz").write_bytes((other / "results.tgz").read_bytes())
    result = run(path=str(tmp_path))
    assert "results.tgz holds results.csv of" in result["msg"]
    assert gzip.decompress((tmp_path / "results.tgz").read_bytes())  # a whole archive, yet wrong
