"""How long a run of a cluster file takes at each size, and which size meets job.deadline.

The model: a run's wall time = overhead + job. From history (``run_history``), for each worker
count measured: the overhead is the median (the lower middle) of its runs' wall − job, and the
job is a least-squares line through (rows ÷ workers, job seconds): fixed seconds + rows ×
seconds per row per worker ÷ workers. A size is predicted by the nearest worker count measured;
the parallel efficiency at a count is the fewest workers' seconds per row ÷ its own. Without
history, a sample of the input is classified on the controller (one process, so efficiency 1)
and the overhead is sizing.overhead's for the provider.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from ansible_collections.burst.cluster.plugins.module_utils import providers, run_history
from ansible_collections.burst.cluster.plugins.module_utils.run_report import load_prices, run_cost

MAX_SAMPLE_ROWS = 100_000
SAMPLE_BYTES = 1024 * 1024  # of an s3 object, for its bytes per row and its sample
BILLED_MINIMUM_SECONDS = 60  # EC2 bills per second, with a minute at least
GROWTH_HORIZON_DAYS = 365


class SizingError(ValueError):
    """No size meets the deadline, or the input cannot be sized; the message says why."""


@dataclass
class Model:
    basis: str  # "history" or "sample"
    overhead: float  # wall − job
    lines: dict  # workers -> (seconds per row per worker, the job's fixed seconds), as measured
    runs: int = 0
    sampled_seconds: float = 0.0  # what measuring took, itself part of this run's wall time
    overheads: dict = field(default_factory=dict)  # workers -> wall − job, as measured there

    def job_seconds(self, rows: int, workers: int) -> float:
        """The job's seconds by the line of the nearest worker count measured."""
        per_row, fixed = self.lines[_nearest(self.lines, workers)]
        return fixed + rows * per_row / workers

    def overhead_at(self, workers: int) -> float:
        """Wall − job at the nearest worker count measured: more workers take longer to start."""
        return (
            self.overheads[_nearest(self.overheads, workers)] if self.overheads else self.overhead
        )

    def seconds(self, rows: int, workers: int) -> float:
        """The whole run's predicted wall time."""
        return self.overhead_at(workers) + self.sampled_seconds + self.job_seconds(rows, workers)

    def efficiency(self) -> dict:
        """Parallel efficiency at each worker count measured, against the fewest workers'."""
        base = self.lines[min(self.lines)][0]
        return {workers: round(base / per_row, 2) for workers, (per_row, _) in self.lines.items()}

    def describe(self) -> str:
        if self.basis == "history":
            basis = f"history of {self.runs} run(s)"
        else:
            basis = f"a sample classified on the controller in {self.sampled_seconds:.1f} s"
        measured = "; ".join(
            f"at {workers} worker(s) {per_row * 1000:.3g} ms per row per worker,"
            f" job fixed {fixed:.1f} s, overhead {self.overhead_at(workers):.1f} s,"
            f" parallel efficiency {self.efficiency()[workers]:.2f}"
            for workers, (per_row, fixed) in sorted(self.lines.items())
        )
        return f"basis: {basis}; {measured}"


def _nearest(measured: dict, workers: int) -> int:
    """The worker count of ``measured`` nearest ``workers`` (the larger of two as near)."""
    return min(measured, key=lambda count: (abs(count - workers), -count))


def from_history(runs: list[run_history.Run]) -> Model | None:
    """The model measured from comparable runs; None without any."""
    if not runs:
        return None
    _, shared_fixed = _line([(run.rows_in / run.workers, float(run.seconds)) for run in runs])
    lines, overheads = {}, {}
    for workers in sorted({run.workers for run in runs}):
        counted = [run for run in runs if run.workers == workers]
        points = [(run.rows_in / workers, float(run.seconds)) for run in counted]
        if len({x for x, _ in points}) > 1:
            lines[workers] = _line(points)
        else:
            lines[workers] = _line_from(points, shared_fixed)
        overheads[workers] = _overhead(counted)
    return Model(
        basis="history", overhead=_overhead(runs), lines=lines, runs=len(runs), overheads=overheads
    )


def _overhead(runs) -> float:
    """The lower middle of the runs' wall − job, less the seconds a run spent classifying a
    sample: of two runs, the faster, so that one run that installed the app on hosts that keep
    it (static) does not set the overhead of every run after it."""
    return statistics.median_low(
        run.wall_seconds - run.seconds - _sampled_seconds(run.predicted) for run in runs
    )


def _sampled_seconds(predicted) -> float:
    sampled = predicted.get("sampled_seconds") if isinstance(predicted, dict) else None
    return sampled if isinstance(sampled, int | float) else 0.0


def _line(points) -> tuple[float, float]:
    """(slope, intercept ≥ 0) of the least-squares line through ``points``; through the origin
    for points of one x, or a line that would start below zero."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread > 0:
        slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
        fixed = mean_y - slope * mean_x
        if slope > 0 and fixed >= 0:
            return slope, fixed
    return sum(x * y for x, y in points) / sum(x * x for x in xs), 0.0


def _line_from(points, fixed: float) -> tuple[float, float]:
    """(slope, ``fixed``) of the least-squares line through ``points`` that starts at ``fixed``:
    the job's fixed seconds measured across worker counts, for a count measured at one size of
    input; through the origin if the points lie below it."""
    slope = sum(x * (y - fixed) for x, y in points) / sum(x * x for x, _ in points)
    if slope > 0:
        return slope, fixed
    return _line(points)


# Runs in the app's Python: `python -m classifier classify` in one process, on ever more of the
# sample's rows until one call takes a third of the budget; prints rows and seconds of that call.
SAMPLE_DRIVER = """
import json, sys, time
from classifier.__main__ import main
budget, sample, workdir, *options = sys.argv[1:]
budget, lines = float(budget), open(sample, "rb").readlines()
def timed(rows):
    with open(workdir + "/part.csv", "wb") as part:
        part.writelines(lines[: rows + 1])
    started = time.perf_counter()
    if main(["classify", workdir + "/part.csv", workdir + "/out.csv", *options]) != 0:
        sys.exit(2)
    return time.perf_counter() - started
timed(1)
rows = min(100, len(lines) - 1)
while True:
    took = timed(rows)
    if took >= budget / 3 or rows == len(lines) - 1:
        break
    rows = min(len(lines) - 1, max(2 * rows, int(rows * budget / 2 / max(took, 1e-3))))
print(json.dumps({"rows": rows, "seconds": took}))
"""


def from_sample(config: dict) -> Model:
    """The model of one process classifying a sample of the input on the controller."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="burst-sample-") as directory:
        lines = _sample_lines(config, directory)
        if len(lines) < 2:
            raise SizingError("the input has no rows to sample")
        with open(os.path.join(directory, "sample.csv"), "wb") as handle:
            handle.writelines(lines)
        measured = _classify_sample(config, directory)
    return Model(
        basis="sample",
        lines={1: (max(measured["seconds"] / measured["rows"], 1e-7), 0.0)},
        overhead=_assumed_overhead(config),
        sampled_seconds=round(time.monotonic() - started, 3),
    )


def _assumed_overhead(config: dict) -> float:
    """sizing.overhead's seconds for the provider; for a provider it does not list, the
    largest it lists, so that a prediction errs towards missing the deadline."""
    assumed = config["sizing"]["overhead"]
    return assumed.get(config["provider"], max(assumed.values()))


def _sample_lines(config: dict, directory: str) -> list[bytes]:
    """The header and up to MAX_SAMPLE_ROWS whole rows of the input's start."""
    source = config["source"]
    if source["kind"] == "synthetic":
        argv = [sys.executable, "-m", "classifier", "generate"]
        argv += ["--rows", str(min(source["rows"], MAX_SAMPLE_ROWS)), "--seed", str(source["seed"])]
        data = subprocess.run(argv, capture_output=True, check=True, cwd=directory).stdout
    elif source["kind"] == "file":
        with open(source["path"], "rb") as handle:
            data = handle.read(16 * SAMPLE_BYTES)
    else:
        data = _s3_head(source["url"])[0]
    lines = data.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines.pop()  # cut by the read, or the last row: the sample does without it
    return lines[: MAX_SAMPLE_ROWS + 1]


def _classify_sample(config: dict, directory: str) -> dict:
    job = config["job"]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(providers.get(config["provider"]).env(config))  # as the workers will have it
    argv = [sys.executable, "-c", SAMPLE_DRIVER, str(config["sizing"]["sample_seconds"])]
    argv += [os.path.join(directory, "sample.csv"), directory]
    argv += [
        *("--classifier", job["classifier"], "--slowness", str(job["slowness"])),
        "--classifier-args=" + json.dumps(job["classifier_args"]),
        "--result-column=" + job["result_column"],
    ]
    done = subprocess.run(argv, env=env, cwd=directory, capture_output=True, text=True)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SizingError(f"classifying a sample failed: {last[0]}") from None


def _s3_head(url: str) -> tuple[bytes, int]:
    """The first SAMPLE_BYTES of the object at ``url``, cut after its last whole line, and
    the object's size."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = url[len("s3://") :].partition("/")
    try:
        got = run_history.s3_client().get_object(
            Bucket=bucket, Key=key, Range=f"bytes=0-{SAMPLE_BYTES - 1}"
        )
        data = got["Body"].read()
    except (BotoCoreError, ClientError) as error:
        raise SizingError(f"cannot read {url} to size it: {error}") from None
    total = int(got.get("ContentRange", "/").rsplit("/", 1)[-1] or len(data))
    return data[: data.rfind(b"\n") + 1] if total > len(data) else data, total


def input_rows(config: dict) -> tuple[int, str]:
    """The input's row count, and how it was found."""
    source = config["source"]
    if source["kind"] == "synthetic":
        return source["rows"], "source.rows"
    if source["kind"] == "file":
        count, last = 0, b"\n"
        with open(source["path"], "rb") as handle:
            while block := handle.read(SAMPLE_BYTES):
                count += block.count(b"\n")
                last = block[-1:]
        count += last != b"\n"
        return max(count - 1, 0), "lines of the file"
    head, total = _s3_head(source["url"])
    lines = head.count(b"\n")
    if lines < 2:
        return max(lines - 1, 0), "the object's lines"
    per_row = len(head) / lines
    return round(total / per_row) - 1, f"its {total} bytes ÷ {per_row:.0f} bytes per row"


def sizes(config: dict) -> range:
    """The sizes a table shows, the provider's."""
    return providers.get(config["provider"]).sizes(config)


def run_cost_usd(config: dict, size: int, seconds: float, prices=None) -> float | None:
    """What the run's machines cost for ``seconds`` of wall time, billed per machine-second
    with a minute's minimum; 0 without cloud machines, None without a price."""
    cost = run_cost({**config, "size": size}, prices or load_prices())
    if cost is None:
        return 0.0
    if cost["price"] is None:
        return None
    billed = max(seconds, BILLED_MINIMUM_SECONDS)
    return round(cost["machines"] * cost["price"] * billed / 3600, 4)


def table(config: dict, model: Model, rows: int, prices=None) -> list[dict]:
    """Size by size: workers, predicted seconds, a run's cost, whether it meets the deadline."""
    deadline = config["job"]["deadline"]
    limit = deadline * config["sizing"]["margin"] if deadline else None
    lines = []
    for size in sizes(config):
        workers = size * config["workers_per_host"]
        seconds = round(model.seconds(rows, workers), 1)
        lines.append(
            {
                "size": size,
                "workers": workers,
                "seconds": seconds,
                "cost": run_cost_usd(config, size, seconds, prices),
                "meets": None if limit is None else seconds <= limit,
            }
        )
    return lines


def choose(config: dict, lines: list[dict]) -> dict:
    """The line of the size to run: the cheapest that meets the deadline for size auto (the
    smallest of equal cost), else the file's size; SizingError when auto finds none."""
    if config["size"] != "auto":
        return next((line for line in lines if line["size"] == config["size"]), None)
    meeting = [line for line in lines if line["meets"]]
    if meeting:
        return min(meeting, key=lambda line: (line["cost"] or 0, line["size"]))
    raise SizingError(_none_meets(config, lines))


def _none_meets(config: dict, lines: list[dict]) -> str:
    largest = lines[-1]
    machine = providers.get(config["provider"]).sized_on(config)
    deadline, margin = config["job"]["deadline"], config["sizing"]["margin"]
    return (
        f"size: 'auto' — no size up to {largest['size']} ({machine}) meets job.deadline"
        f" {deadline} s × sizing.margin {margin}: size {largest['size']} is predicted"
        f" {largest['seconds']:.0f} s"
    )


def need(config: dict, model: Model, rows: int) -> str:
    """What it would take beyond the sizes shown, for a message."""
    limit = config["job"]["deadline"] * config["sizing"]["margin"]
    for size in range(1, 100_000):
        if model.seconds(rows, size * config["workers_per_host"]) <= limit:
            return "it would take " + providers.get(config["provider"]).would_take(config, size)
    return (
        f"no size would: the run's overhead alone is {model.seconds(0, 1):.0f} s,"
        " so give it a later deadline"
    )


def growth(runs: list[run_history.Run], config: dict, model: Model, size: int) -> str | None:
    """When ``size`` stops meeting the deadline, at the rows' growth over ``runs``; None when
    the rows do not grow or that is beyond GROWTH_HORIZON_DAYS."""
    points = [
        (_started(run) / 86400, math.log(run.rows_in))
        for run in runs
        if run.rows_in and _started(run)
    ]
    deadline = config["job"]["deadline"]
    if len(points) < 3 or not deadline or points[-1][0] - points[0][0] < 1 / 24:
        return None
    rate, _ = _fit(points)
    if rate <= 0:
        return None
    workers = size * config["workers_per_host"]
    limit = deadline * config["sizing"]["margin"]
    rows_now = runs[-1].rows_in
    per_row = model.seconds(rows_now + 1, workers) - model.seconds(rows_now, workers)
    rows_limit = (limit - model.seconds(0, workers)) / per_row
    grew = f"rows grew {math.expm1(rate) * 100:.1f} % a day over the last {len(points)} runs"
    if rows_limit <= rows_now:
        return f"{grew}; size {size} already misses the deadline"
    day = points[-1][0] + math.log(rows_limit / rows_now) / rate
    if day - points[-1][0] > GROWTH_HORIZON_DAYS:
        return None
    when = datetime.datetime.fromtimestamp(day * 86400, datetime.UTC).date().isoformat()
    return f"{grew}; size {size} misses the deadline from about {when}"


def _fit(points) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line through ``points``, any sign."""
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x, _ in points) or 1.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return slope, mean_y - slope * mean_x


def _started(run: run_history.Run) -> float | None:
    started = run.manifest.get("started_at")
    return float(started) if isinstance(started, int | float) else None


def plan(config: dict, s3_client=None) -> dict:
    """Everything sizing says about ``config``: the table, the size to run (an int), the
    prediction to record in the manifest, warnings and notes. SizingError when size auto
    finds no size, or the input cannot be sized."""
    history = run_history.read_history(config, s3_client=s3_client)
    runs, left_out = run_history.comparable_runs(history.runs, config)
    model = from_history(runs) or from_sample(config)
    rows, counted = input_rows(config)
    lines = table(config, model, rows)
    try:
        chosen = choose(config, lines)
    except SizingError as error:
        raise SizingError(f"{error}; {need(config, model, rows)}") from None
    size = chosen["size"] if chosen else config["size"]
    workers = size * config["workers_per_host"]
    seconds = chosen["seconds"] if chosen else round(model.seconds(rows, workers), 1)
    warnings = []
    deadline = config["job"]["deadline"]
    if deadline and seconds > deadline * config["sizing"]["margin"]:
        warnings.append(
            f"size {size} is predicted to take {seconds:.0f} s, more than job.deadline"
            f" {deadline} s × sizing.margin {config['sizing']['margin']}"
        )
    trend = growth(runs, config, model, size)
    if trend:
        warnings.append(trend)
    return {
        "size": size,
        "rows": rows,
        "rows_counted": counted,
        "model": model.describe(),
        "table": lines,
        "predicted": {
            "size": size,
            "seconds": seconds,
            "basis": model.basis,
            **({"sampled_seconds": model.sampled_seconds} if model.sampled_seconds else {}),
        },
        "runs": model.runs,
        "warnings": warnings,
        "notes": history.notes + ([f"{len(left_out)} run(s) not comparable"] if left_out else []),
    }


def table_text(config: dict, planned: dict) -> list[str]:
    """The table as Markdown lines."""
    deadline = config["job"]["deadline"]
    margin = config["sizing"]["margin"]
    meets = f"meets {_duration(deadline)} × {margin}" if deadline else "meets (no job.deadline)"
    head = f"| size | workers | predicted run | cost of a run | {meets} |"
    lines = [head, "| --- | --- | --- | --- | --- |"]
    for line in planned["table"]:
        cost = "unknown" if line["cost"] is None else f"${line['cost']:.4g}"
        meets = {None: "no deadline", True: "yes", False: "no"}[line["meets"]]
        mark = " ← runs" if line["size"] == planned["size"] else ""
        cells = [f"{line['size']}{mark}", line["workers"], _duration(line["seconds"]), cost, meets]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return lines


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def compared(manifest: dict) -> str | None:
    """Predicted against actual wall time, with the error, for a summary."""
    predicted, actual = manifest.get("predicted"), manifest.get("wall_seconds")
    if not isinstance(predicted, dict) or not isinstance(actual, int | float) or actual <= 0:
        return None
    error = (predicted["seconds"] - actual) / actual * 100
    return (
        f"predicted {predicted['seconds']:.0f} s at size {predicted['size']} (basis"
        f" {predicted['basis']}), took {actual:.0f} s: error {error:+.0f} %"
    )


def sized(config: dict, result: dict) -> dict:
    """``config`` with the size burst.cluster.sizing's ``result`` picked; without one, the
    largest size the table may show, so that what a run costs is an upper bound."""
    size = (result.get("config") or {}).get("size")
    return {**config, "size": size if isinstance(size, int) else sizes(config)[-1]}


def plan_lines(config: dict, result: dict) -> list[str]:
    """The sizing part of a plan, from burst.cluster.sizing's ``result``."""
    if not result.get("sized"):
        why = result.get("msg")
        why = why[0] if isinstance(why, list) and why else why or "sizing did not run"
        return [f"**Sizing:** {str(why).removeprefix('sizing: ')}"]
    lines = [
        f"**Sizing:** this change runs size {result['config']['size']}, predicted"
        f" {_duration(result['predicted']['seconds'])} for {result['rows']} rows;"
        f" {result['model']}.",
        "",
        *table_text(config, {"size": result["config"]["size"], "table": result["table"]}),
    ]
    return lines + [f"\n**Warning:** {warning}" for warning in result.get("sizing_warnings", [])]


def summary_lines(manifest: dict, result: dict) -> list[str]:
    """Predicted against actual, and sizing's warnings, for a run's summary."""
    lines = []
    line = compared(manifest)
    if line:
        lines.append(f"**Predicted against actual:** {line}.")
    lines += [f"**Warning:** {warning}" for warning in result.get("sizing_warnings", [])]
    return lines
