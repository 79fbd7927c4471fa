"""sizing: the model, the table, the size of size auto, the growth warning, the input's rows."""

from __future__ import annotations

import datetime
import json
import math

import pytest
from ansible_collections.burst.cluster.plugins.module_utils import (
    run_history,
    run_report,
    sizing,
)
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    validate_config,
)

PRICES = run_report.load_prices()
AWS = {"ssh_cidr": "203.0.113.7/32", "region": "us-east-1", "instance_type": "c5.xlarge"}


def aws_config(base_dir, **changes):
    data = {"name": "hourly", "provider": "aws", "aws": AWS, "workers_per_host": 4, **changes}
    return validate_config(data, base_dir)


def run(run_id, rows, workers, job, wall, started=1_790_000_000.0):
    manifest = {"rows_in": rows, "workers": workers, "seconds": job, "wall_seconds": wall}
    return run_history.Run(run_id, "", manifest | {"started_at": started})


def test_the_model_is_the_line_through_the_runs_and_their_overhead():
    # at 2 workers: job = 2 s + 0.01 s per row per worker; wall = job + 30 s
    runs = [run("a", 1000, 2, 7.0, 37.0), run("b", 4000, 2, 22.0, 52.0)]
    model = sizing.from_history(runs)
    assert (model.basis, model.runs) == ("history", 2)
    (per_row, fixed) = model.lines[2]
    assert (per_row, fixed) == (pytest.approx(0.01), pytest.approx(2.0))
    assert model.overhead == pytest.approx(30.0)
    assert model.seconds(8000, 2) == pytest.approx(30 + 2 + 40)
    assert model.seconds(8000, 8) == pytest.approx(30 + 2 + 10)  # as measured at 2


def test_parallel_efficiency_is_measured_per_worker_count():
    # 4 workers take 25 % longer per row per worker than 2 do
    runs = [
        run("a", 1000, 2, 5.0, 15.0),
        run("b", 2000, 2, 10.0, 20.0),
        run("c", 4000, 4, 12.5, 22.5),
    ]
    model = sizing.from_history(runs)
    assert model.efficiency() == {2: 1.0, 4: 0.8}
    assert model.seconds(8000, 4) == pytest.approx(10 + 8000 * 0.0125 / 4)
    assert model.seconds(8000, 3) == pytest.approx(10 + 8000 * 0.0125 / 3)  # nearest: 4
    assert "at 4 worker(s) 12.5 ms per row per worker" in model.describe()


def test_a_worker_count_run_at_one_input_size_shares_the_job_s_fixed_seconds():
    # the job takes 2 s + 0.2 ms per row per worker at either count; each count ran one size
    runs = [run("a", 5000, 2, 2.5, 20.0), run("b", 10000, 1, 4.0, 20.0)]
    model = sizing.from_history(runs)
    assert model.lines == {
        1: (pytest.approx(0.0002), pytest.approx(2.0)),
        2: (pytest.approx(0.0002), pytest.approx(2.0)),
    }
    assert model.job_seconds(30000, 2) == pytest.approx(5.0)  # through the origin: 15 s


def test_the_overhead_is_measured_per_worker_count():
    # a second worker takes 5 s longer to start; the slow first run installed the app
    runs = [
        run("a", 1000, 1, 5.0, 45.0),
        run("b", 2000, 1, 10.0, 20.0),
        run("c", 4000, 2, 10.0, 25.0),
    ]
    model = sizing.from_history(runs)
    assert model.overheads == {1: 10.0, 2: 15.0}
    sampled = run("d", 4000, 2, 10.0, 28.0)
    sampled.manifest["predicted"] = {"basis": "sample", "sampled_seconds": 3.0}
    assert sizing.from_history([sampled]).overhead == 15.0  # the sample was that run's alone
    assert model.seconds(4000, 1) == pytest.approx(10 + 20)
    assert model.seconds(4000, 2) == pytest.approx(15 + 10)
    assert model.seconds(4000, 4) == pytest.approx(15 + 5)  # nearest: 2
    assert "at 2 worker(s) 5 ms per row per worker, job fixed 0.0 s, overhead 15.0 s" in (
        model.describe()
    )


def test_size_auto_takes_the_cheapest_size_that_meets_the_deadline(tmp_path):
    config = aws_config(tmp_path, size="auto", job={"deadline": "10m"})
    assert config["job"]["deadline"] == 600
    model = sizing.Model(basis="history", lines={4: (0.004, 0.0)}, overhead=300.0, runs=2)
    lines = sizing.table(config, model, 1_000_000, PRICES)
    by_size = {line["size"]: line for line in lines}
    # 1 000 000 rows × 4 ms ÷ (4 workers × size) + 300 s, against 600 × 0.8 = 480 s
    assert by_size[5]["seconds"] == 500 and not by_size[5]["meets"]
    assert by_size[6]["seconds"] == pytest.approx(466.7) and by_size[6]["meets"]
    assert sizing.choose(config, lines)["size"] == 6
    price = PRICES["regions"]["us-east-1"]["c5.xlarge"]
    assert by_size[6]["cost"] == pytest.approx(7 * price * 466.7 / 3600, abs=1e-4)
    assert len(lines) == 64


def test_a_short_run_is_billed_a_minute():
    config = aws_config(".", size=1)
    price = PRICES["regions"]["us-east-1"]["c5.xlarge"]
    assert sizing.run_cost_usd(config, 1, 5, PRICES) == pytest.approx(2 * price / 60, abs=1e-4)


def test_no_size_meets_stops_naming_the_size_and_machine_it_would_take(tmp_path):
    config = aws_config(tmp_path, size="auto", job={"deadline": 600})
    model = sizing.Model(basis="history", lines={4: (0.004, 0.0)}, overhead=300.0, runs=2)
    lines = sizing.table(config, model, 100_000_000, PRICES)
    with pytest.raises(sizing.SizingError) as caught:
        sizing.choose(config, lines)
    assert "no size up to 64 (c5.xlarge) meets job.deadline 600 s × sizing.margin 0.8" in str(
        caught.value
    )
    assert (
        sizing.need(config, model, 100_000_000)
        == "it would take size 556 of c5.xlarge × 4 worker(s)"
    )
    model.overhead = 500
    assert "no size would: the run's overhead alone is 500 s" in sizing.need(config, model, 1)


def test_a_local_cluster_that_needs_more_cores_says_how_many_workers(tmp_path):
    config = validate_config(
        {"name": "here", "provider": "local", "size": "auto", "job": {"deadline": 25}}, tmp_path
    )
    model = sizing.Model(basis="history", lines={1: (0.001, 0.0)}, overhead=10.0, runs=2)
    assert sizing.need(config, model, 30000) == (
        "it would take 4 workers, more than this machine's cores"
    )


def test_the_rows_growth_says_when_the_size_misses_the_deadline(tmp_path):
    config = aws_config(tmp_path, size=3, job={"deadline": 3600})
    day = 86400
    # rows double every 10 days
    runs = [
        run(str(i), round(1_000_000 * 2 ** (i / 10)), 12, 1, 2, 1_790_000_000 + i * day)
        for i in range(30)
    ]
    model = sizing.Model(basis="history", lines={12: (0.001, 0.0)}, overhead=300.0, runs=30)
    text = sizing.growth(runs, config, model, 3)
    assert text.startswith(
        "rows grew 7.2 % a day over the last 30 runs; size 3 misses the deadline from about "
    )
    # (2 880 s − 300 s) × 12 workers ÷ 1 ms = 30 960 000 rows: 10 × log2(that ÷ the last run's
    # rows) days after the last run
    days = 10 * math.log2(30_960_000 / runs[-1].rows_in)
    when = datetime.datetime.fromtimestamp(1_790_000_000 + (29 + days) * day, datetime.UTC)
    assert text.endswith(when.date().isoformat())
    shrinking = [run(str(i), 1_000_000 - i, 12, 1, 2, 1_790_000_000 + i * day) for i in range(30)]
    assert sizing.growth(shrinking, config, model, 3) is None


def test_a_file_s_rows_are_counted(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_bytes(b"ID,A\n" + b"".join(b"%d,x\n" % i for i in range(2345)) + b"2345,last")
    config = validate_config(
        {"name": "x", "source": {"kind": "file", "path": "rows.csv"}}, tmp_path
    )
    assert sizing.input_rows(config) == (2346, "lines of the file")


def test_an_s3_object_s_rows_are_estimated_from_its_first_mebibyte(tmp_path, s3):
    s3.create_bucket(Bucket="team-rows")
    body = b"ID,A\n" + b"".join(b"%06d,x\n" % i for i in range(400_000))
    s3.put_object(Bucket="team-rows", Key="rows.csv", Body=body)
    config = validate_config(
        {"name": "x", "source": {"kind": "s3", "url": "s3://team-rows/rows.csv"}}, tmp_path
    )
    rows, how = sizing.input_rows(config)
    assert abs(rows - 400_000) < 10 and how.startswith(f"its {len(body)} bytes ÷ ")


def test_a_sample_measures_the_classifier_on_the_controller(tmp_path):
    config = validate_config(
        {
            "name": "x",
            "source": {"rows": 5000},
            "job": {"slowness": 2000},
            "sizing": {"sample_seconds": 1},
        },
        tmp_path,
    )
    model = sizing.from_sample(config)
    assert model.basis == "sample" and model.overhead == config["sizing"]["overhead"]["local"]
    # the black box hashes each row 2000 times: somewhere between 0.05 and 20 ms a row here
    (per_row, fixed) = model.lines[1]
    assert 5e-5 < per_row < 2e-2 and fixed == 0
    assert model.sampled_seconds > 0


def test_plan_of_a_fixed_size_that_misses_the_deadline_warns(tmp_path):
    config = validate_config({"name": "x", "size": 1, "job": {"deadline": "5s"}}, tmp_path)
    out = tmp_path / "output" / "20261201T100000Z-aaaa"
    out.mkdir(parents=True)
    manifest = {
        "complete": True,
        "partial": False,
        "balanced": True,
        "rows_in": 10000,
        "rows_out": 10000,
        "rows_rejected": 0,
        "results_sha256": "0",
        "seconds": 4.0,
        "started_at": 1_790_000_000.0,
        "classifier": "classifier.black_box:classify",
        "slowness": 1000,
    } | run_history.record(config, out.name, 2, 14.0, 0.0)
    (out / "manifest.json").write_text(json.dumps(manifest))
    planned = sizing.plan(config)
    assert planned["predicted"] == {"size": 1, "seconds": 14.0, "basis": "history"}
    assert planned["warnings"] == [
        "size 1 is predicted to take 14 s, more than job.deadline 5 s × sizing.margin 0.8"
    ]
    text = "\n".join(sizing.table_text(config, planned))
    assert "| 1 ← runs | 2 | 14s | $0 | no |" in text


def test_the_summary_puts_predicted_and_actual_side_by_side_with_the_error(tmp_path):
    manifest = {"predicted": {"size": 2, "seconds": 55.0, "basis": "history"}, "wall_seconds": 50.0}
    warnings = {"sizing_warnings": ["rows grew 4.0 % a day over the last 30 runs; size 2 misses"]}
    lines = sizing.summary_lines(manifest, warnings)
    assert lines == [
        "**Predicted against actual:** predicted 55 s at size 2 (basis history), took 50 s:"
        " error +10 %.",
        "**Warning:** rows grew 4.0 % a day over the last 30 runs; size 2 misses",
    ]
    assert sizing.summary_lines({"wall_seconds": 50.0}, {}) == []


def test_the_plan_shows_the_table_and_the_size_the_change_runs(tmp_path):
    config = aws_config(tmp_path, size="auto", job={"deadline": "10m"})
    model = sizing.Model(basis="history", lines={4: (0.004, 0.0)}, overhead=300.0, runs=2)
    lines = sizing.table(config, model, 1_000_000, PRICES)
    result = {
        "sized": True,
        "config": {**config, "size": 6},
        "predicted": {"size": 6, "seconds": 466.7, "basis": "history"},
        "rows": 1_000_000,
        "model": model.describe(),
        "table": lines,
        "sizing_warnings": [],
    }
    text = "\n".join(sizing.plan_lines(sizing.sized(config, result), result))
    assert "**Sizing:** this change runs size 6, predicted 7m47s for 1000000 rows;" in text
    assert "| size | workers | predicted run | cost of a run | meets 10m00s × 0.8 |" in text
    assert "| 6 ← runs | 24 | 7m47s |" in text and "| 5 | 20 | 8m20s |" in text
    failed = {"msg": "sizing: size: 'auto' — no size up to 64 (c5.xlarge) meets …"}
    assert sizing.sized(config, failed)["size"] == 64
    assert sizing.plan_lines(config, failed) == [
        "**Sizing:** size: 'auto' — no size up to 64 (c5.xlarge) meets …"
    ]
