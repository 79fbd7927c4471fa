"""Sizing against measured runs of site.yml, provider local: two calibration runs, 5 000 rows
at 2 workers and 10 000 at 1, then 30 000 rows at 1 and at 2 workers predicted and run; size
auto; the sample basis of a first run. Run with -s to see the errors measured.

This machine is shared: other work can slow any one run by half. So every run is made twice,
as a benchmark would: the history holds both, and a prediction is compared with the faster of
the two runs it predicts. The model itself takes the lower middle of a size's overheads."""

import json
import shutil

import pytest
from ansible_collections.burst.cluster.plugins.module_utils import sizing
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    load_cluster_file,
)
from conftest import cluster_file
from site_runs import site

# Ten runs of site.yml: minutes on a machine shared with other work.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

JOB = {"slowness": 1000, "batch_rows": "auto", "timeout": 600}
HISTORY_ERROR, SAMPLE_ERROR = 0.20, 0.35


def run(directory, state_dir, name, rows, **changes):
    """site.yml on a cluster file of the shared directory; the run's manifest."""
    results = directory / changes.get("results", {}).get("dir", "output")
    before = set(results.glob("*/manifest.json"))
    changes["job"] = {**JOB, **changes.get("job", {})}
    path = cluster_file(
        directory, name, source={"kind": "synthetic", "rows": rows, "seed": 5}, **changes
    )
    result = site(path, state_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (manifest,) = set(results.glob("*/manifest.json")) - before
    return json.loads(manifest.read_text())


def twice(directory, state_dir, name, rows, **changes):
    """Two runs of one cluster file's job, the faster first."""
    done = [run(directory, state_dir, f"{i}-{name}", rows, **changes) for i in (1, 2)]
    return sorted(done, key=lambda manifest: manifest["wall_seconds"])


def first_runs(directory, state_dir):
    """Two first runs of 5 000 rows, each on a history of none; both join the history."""
    done = [run(directory, state_dir, "first.yaml", 5000)]
    done.append(run(directory, state_dir, "first-again.yaml", 5000, results={"dir": "again"}))
    shutil.move(directory / "again" / done[1]["run_id"], directory / "output")
    return sorted(done, key=lambda manifest: manifest["wall_seconds"])


def error(predicted, actual):
    return (predicted - actual) / actual


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every run of the module's cluster, in order, with the predictions made between them."""
    directory = tmp_path_factory.mktemp("sizing")
    state_dir = directory / "state"
    # The first run after a pause reads what the machine has evicted since: it is no one's history.
    run(directory, state_dir, "warm-up.yaml", 5000, results={"dir": "warm-up"})
    firsts = first_runs(directory, state_dir)
    done = {"first": firsts[0], "firsts": firsts}
    done["second"] = twice(directory, state_dir, "second.yaml", 10000, size=1)[0]
    path = cluster_file(
        directory, "plan.yaml", source={"kind": "synthetic", "rows": 30000, "seed": 5}, job=JOB
    )
    done["table"] = sizing.plan(load_cluster_file(path))
    done["one"] = twice(directory, state_dir, "one.yaml", 30000, size=1)[0]
    done["two"] = twice(directory, state_dir, "two.yaml", 30000, size=2)[0]
    done.update(directory=directory, state_dir=state_dir)
    return done


def test_the_first_run_is_predicted_from_a_sample(runs):
    assert [run["predicted"]["basis"] for run in runs["firsts"]] == ["sample"] * 2
    first = runs["first"]
    assert first["predicted"]["size"] == 2
    seen = error(first["predicted"]["seconds"], first["wall_seconds"])
    print(
        f"\nsample basis, 5000 rows at 2 workers: predicted {first['predicted']['seconds']} s,"
        f" took {first['wall_seconds']} s, error {seen:+.1%}"
    )
    assert abs(seen) <= SAMPLE_ERROR
    assert runs["second"]["predicted"]["basis"] == "history"


def test_30000_rows_at_1_and_2_workers_are_predicted_from_two_runs(runs):
    table = {line["workers"]: line["seconds"] for line in runs["table"]["table"]}
    assert runs["table"]["runs"] == 4 and runs["table"]["predicted"]["basis"] == "history"
    for workers, key in ((1, "one"), (2, "two")):
        measured = runs[key]
        assert measured["workers"] == workers and measured["rows_in"] == 30000
        seen = error(table[workers], measured["wall_seconds"])
        print(
            f"\nhistory basis (4 runs), 30000 rows at {workers} worker(s): predicted"
            f" {table[workers]} s, took {measured['wall_seconds']} s (job {measured['seconds']} s),"
            f" error {seen:+.1%}"
        )
        assert abs(seen) <= HISTORY_ERROR


def test_size_auto_picks_the_size_a_person_would(runs):
    """With room for both sizes a person takes the smaller, which costs no more here; with a
    deadline neither meets, the run stops before anything is made and says so."""
    one, two = runs["one"]["wall_seconds"], runs["two"]["wall_seconds"]
    roomy, tight = round(max(one, two) * 1.3 / 0.8), round(min(one, two) * 0.5 / 0.8)

    def auto_file(deadline):
        return cluster_file(
            runs["directory"],
            f"auto-{deadline}.yaml",
            size="auto",
            source={"kind": "synthetic", "rows": 30000, "seed": 5},
            job={**JOB, "deadline": deadline},
        )

    with pytest.raises(sizing.SizingError, match=r"no size up to \d+ \(this machine\) meets"):
        sizing.plan(load_cluster_file(auto_file(tight)))
    auto = run(
        runs["directory"],
        runs["state_dir"],
        f"auto-{roomy}.yaml",
        30000,
        size="auto",
        job={**JOB, "deadline": roomy},
    )
    assert (auto["size"], auto["workers"], auto["predicted"]["size"]) == (1, 1, 1)
    print(
        f"\nsize auto, deadline {roomy} s: size {auto['size']},"
        f" predicted {auto['predicted']['seconds']} s, took {auto['wall_seconds']} s"
    )
    summary = (runs["directory"] / "output" / auto["run_id"] / "summary.md").read_text()
    assert f"predicted {auto['predicted']['seconds']:.0f} s at size 1 (basis history)" in summary
