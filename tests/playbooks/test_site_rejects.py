"""Rejected rows through site.yml with provider local: what the run says, and how it ends."""

import csv
import json

import pytest
from conftest import cluster_file, processes_with_env
from site_runs import read, run_dir, site

pytestmark = pytest.mark.slow

HEADER = "ID,SKU,FLUX,MANUFACTURER_NAME,DESCRIPTION\n"
BAD = {5: "5,SKU-5,1.0\n", 12: ",SKU-12,1.0,Acme,no id\n", 30: "30,SKU-30,1.0,Acme,x,extra\n"}

RAISES_ON_ROW_44 = """
from classifier import black_box


def classify(frame, *, slowness):
    if "44" in frame.index:
        raise KeyError("no class for row 44")
    return black_box.classify(frame, slowness=slowness)
"""


def _input(directory) -> str:
    """60 rows, rows 5, 12 and 30 bad (on lines 6, 13 and 31)."""
    rows = [BAD.get(n, f"{n},SKU-{n},{n}.5,Acme,widget {n}\n") for n in range(1, 61)]
    path = directory / "rows.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return str(path)


def _rejects(run) -> list[tuple[int, str]]:
    with open(run / "rejects.csv", newline="", encoding="utf-8") as stream:
        return [(int(line), reason) for line, reason, _ in list(csv.reader(stream))[1:]]


def test_more_rejects_than_max_rejects_fails_the_run_saying_how_many_and_where(tmp_path, state_dir):
    path = cluster_file(
        tmp_path,
        source={"kind": "file", "path": _input(tmp_path)},
        job={"max_rejects": 0.04, "batch_rows": 10},
    )
    done = site(path, state_dir)
    assert done.returncode != 0
    run = run_dir(tmp_path / "output")
    assert "3 rows rejected of 60 in (5.0 %), more than job.max_rejects (0.04 of the rows in)" in (
        done.stdout
    )
    assert f"3 rows rejected, each with its line and reason in {run}/rejects.csv" in done.stdout
    assert [line for line, _ in _rejects(run)] == [6, 13, 31]
    manifest = json.loads((run / "manifest.json").read_text())
    assert (manifest["rows_in"], manifest["rows_out"], manifest["rows_rejected"]) == (60, 57, 3)
    assert manifest["balanced"] is True and manifest["complete"] is False
    assert manifest["partial"] is False and "partial results" not in done.stdout  # all counted
    summary = (run / "summary.md").read_text()
    assert summary.splitlines()[0].endswith(": failed")
    assert "| rows | 60 in, 57 out, 3 rejected (balanced) |" in summary
    assert f"| rejects | `output/{run.name}/rejects.csv`: each rejected row's line" in summary
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []


def test_on_error_reject_carries_on_and_the_run_says_where_the_rejects_are(tmp_path, state_dir):
    (tmp_path / "raises_on_44.py").write_text(RAISES_ON_ROW_44)
    path = cluster_file(
        tmp_path,
        source={"kind": "file", "path": _input(tmp_path)},
        job={"classifier": "raises_on_44:classify", "on_error": "reject", "batch_rows": 10},
    )
    done = site(path, state_dir)
    assert done.returncode == 0, done.stdout
    run = run_dir(tmp_path / "output")
    rejects = _rejects(run)
    # batches of 10 records: the one holding row 44 (line 45) is lines 42 to 51
    raised = [line for line, reason in rejects if "KeyError" in reason]
    assert raised == list(range(42, 52))
    assert {reason for line, reason in rejects if line in raised} == {
        "the classifier raised on the batch starting at input line 42:"
        " KeyError: 'no class for row 44'"
    }
    assert [line for line, _ in rejects if line not in raised] == [6, 13, 31]
    assert f"13 rows rejected, each with its line and reason in {run}/rejects.csv" in done.stdout
    got = read(run / "results.csv")
    assert len(got) == 47 and "44" not in set(got["ID"])
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
