"""burst's benchmark suite: `make bench` writes bench/results.json, bench/results.md and
bench/results.png. `--smoke` runs every section on tiny inputs (make test does).

Every comparison runs its contenders in this one invocation, alternating, round after round,
and reports medians and ratios, so that a noisy machine slows all of them alike.
"""

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import contenders as c
import pandas as pd
import yaml
from bench_report import write_chart, write_table
from report_cost import report_cost

REPO = Path(__file__).resolve().parents[2]
SIZES = {
    "full": {
        "efficiency_rows": [10_000, 100_000],
        "slowness": 1000,
        "throughput_rows": 1_000_000,
        "growth_rows": 100_000,
        "report_rows": 20_000,
        "rounds": 3,
        "sweep_rows": [20_000, 100_000],
        "sweep_slowness": [10, 100, 1000, 10_000],
        "sweep_fixed": [100, 500, 5000],
        "sweep_rounds": 4,  # one per contender: each runs once in every place of a round
        "sweep_rounds_under_s": 60,
    },
    "smoke": {
        "efficiency_rows": [200],
        "slowness": 10,
        "throughput_rows": 3_000,
        "growth_rows": 300,
        "overhead_rows": 200,
        "overhead_slowness": 10,
        "report_rows": 300,
        "rounds": 1,
        "sweep_rows": [300],
        "sweep_slowness": [10, 100],
        "sweep_fixed": [50],
        "sweep_rounds": 1,
        "sweep_rounds_under_s": 60,
    },
}
PHASES = [  # (phase, words in an Ansible task's name), first match wins
    (
        "validate and provision",
        ("cluster file", "name the run", "provision", "hosts from the stack", "ports are free"),
    ),
    ("certificates", ("certificate",)),
    ("collect results and logs", ("collect", "logs", "fetch", "find the", "the results to")),
    ("start", ("start", "wait until", "install", "copy the")),
    ("wait for the job", ("wait for the results",)),
    ("stop", ("stop",)),
    (
        "tear down and report",
        ("tear", "destroy", "remove", "report", "summary", "say where", "upload"),
    ),
]


def machine() -> dict:
    import dask
    import distributed

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "platform": platform.platform(),
    }


def same_file(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


PLAIN = "burst without TLS (plain TCP, the app by hand)"
DASK_DATAFRAME = "Dask DataFrame by hand"


def black_box_pipeline(
    scheduler: str,
    work: Path,
    rows_csv: Path,
    workers: int,
    slowness: int,
    tls: list[str],
    batch_rows: int | None = None,
    source_args: tuple = (),
) -> float:
    """burst's pipeline on the black box, its seconds; its results must be single.csv's."""
    seconds, _, _ = c.pipeline(
        scheduler,
        work,
        rows_csv,
        workers=workers,
        classifier=c.BLACK_BOX,
        slowness=slowness,
        batch_rows=batch_rows,
        tls=tls,
        source_args=source_args,
    )
    if not same_file(work / "single.csv", work / "out" / "results.csv"):
        raise RuntimeError("the pipeline's results differ from the single process's")
    return seconds


def warm_up(scheduler: str, work: Path, workers: int, tls: list[str]) -> None:
    """A small run on a new cluster, untimed: its workers join and load burst's code before
    the first timed run, which would otherwise pay for both."""
    rows_csv = c.generate(200, work / "warm-up.csv")
    c.single(rows_csv, work / "single.csv", c.BLACK_BOX, 1)
    black_box_pipeline(scheduler, work, rows_csv, workers, 1, tls)


def efficiency(work: Path, size: dict, worker_counts: list[int] | None = None) -> list[dict]:
    """Single process ÷ (workers × pipeline), black box, workers 1 … cores; and the machine's
    ceiling: the same for ``workers`` independent single processes on a part of the rows each."""
    rows_out = []
    for rows in size["efficiency_rows"]:
        rows_csv = c.generate(rows, work / f"eff-{rows}.csv")
        for workers in worker_counts or range(1, (os.cpu_count() or 1) + 1):
            singles, pipelines, beside = [], [], []
            parts = c.split(rows_csv, workers, work)
            tls = c.run_tls(work)
            with c.dask_cluster(workers, tls) as scheduler:
                warm_up(scheduler, work, workers, tls)
                for _ in range(size["rounds"]):
                    singles.append(
                        c.single(rows_csv, work / "single.csv", c.BLACK_BOX, size["slowness"])
                    )
                    if workers > 1:
                        beside.append(c.side_by_side(parts, work, c.BLACK_BOX, size["slowness"]))
                        outputs = [(work / f"{p.stem}.out.csv").read_bytes() for p in parts]
                        joined = outputs[0] + b"".join(o.partition(b"\n")[2] for o in outputs[1:])
                        if joined != (work / "single.csv").read_bytes():
                            raise RuntimeError("the side-by-side processes' rows differ")
                    seconds = black_box_pipeline(
                        scheduler, work, rows_csv, workers, size["slowness"], tls
                    )
                    pipelines.append(seconds)
            single_s, pipeline_s = statistics.median(singles), statistics.median(pipelines)
            beside_s = statistics.median(beside) if beside else single_s
            rows_out.append(
                {
                    "rows": rows,
                    "workers": workers,
                    "single_s": round(single_s, 3),
                    "pipeline_s": round(pipeline_s, 3),
                    "efficiency": round(c.efficiency(single_s, workers, pipeline_s), 3),
                    "side_by_side_s": round(beside_s, 3),
                    "machine_ceiling": round(c.efficiency(single_s, workers, beside_s), 3),
                    "singles": [round(s, 3) for s in singles],
                    "pipelines": [round(p, 3) for p in pipelines],
                }
            )
    return rows_out


def sweep(work: Path, size: dict) -> list[dict]:
    """Parallel efficiency on every core, black box at every cost of the sweep: burst as a
    user runs it (batch_rows auto) and with each fixed batch_rows, beside the machine's
    ceiling (independent single processes side by side). A cell whose single process takes at
    most sweep_rounds_under_s seconds runs sweep_rounds rounds, the contenders' order turning
    by one place a round, and gives the medians of each round's ratios; a longer cell runs
    once."""
    workers = os.cpu_count() or 1
    tls = c.run_tls(work)
    entries = []
    with c.dask_cluster(workers, tls) as scheduler:
        warm_up(scheduler, work, workers, tls)
        for rows in size["sweep_rows"]:
            rows_csv = c.generate(rows, work / f"sweep-{rows}.csv")
            parts = c.split(rows_csv, workers, work)
            for slowness in size["sweep_slowness"]:
                settings = [None, *size["sweep_fixed"]]
                singles, ceilings, efficiencies = [], [], {str(b or "auto"): [] for b in settings}
                rounds = size["sweep_rounds"]
                while len(singles) < rounds:
                    single_s = c.single(rows_csv, work / "single.csv", c.BLACK_BOX, slowness)
                    if not singles and single_s > size["sweep_rounds_under_s"]:
                        rounds = 1
                    beside_s = c.side_by_side(parts, work, c.BLACK_BOX, slowness)
                    singles.append(single_s)
                    ceilings.append(c.efficiency(single_s, workers, beside_s))
                    turn = len(singles) % len(settings)
                    for batch_rows in settings[turn:] + settings[:turn]:
                        seconds = black_box_pipeline(
                            scheduler, work, rows_csv, workers, slowness, tls, batch_rows
                        )
                        efficiencies[str(batch_rows or "auto")].append(
                            c.efficiency(single_s, workers, seconds)
                        )
                entries.append(
                    {
                        "rows": rows,
                        "slowness": slowness,
                        "workers": workers,
                        "rounds": len(singles),
                        "single_s": round(statistics.median(singles), 3),
                        "machine_ceiling": round(statistics.median(ceilings), 3),
                        "efficiency": {
                            setting: round(statistics.median(values), 3)
                            for setting, values in efficiencies.items()
                        },
                    }
                )
    return entries


def dask_dataframe_matches(single_csv: Path, parts: Path) -> bool:
    want = pd.read_csv(single_csv, dtype=str, keep_default_na=False)
    got = pd.concat(
        pd.read_csv(part, dtype=str, keep_default_na=False)
        for part in sorted(parts.glob("part-*.csv"))
    )
    key = want.columns[0]
    want, got = want.sort_values(key, ignore_index=True), got.sort_values(key, ignore_index=True)
    same_ids = want[key].equals(got[key])
    classes = want["CLASSIFICATION"].astype(float) == got["CLASSIFICATION"].astype(float)
    return bool(same_ids and classes.all())


def throughput(work: Path, size: dict, rows: int, contenders: tuple) -> dict:
    """The cheap classifier on ``rows`` rows from a file, end to end, contenders alternating.
    burst runs as site.yml runs it, with TLS on every link; PLAIN (the app as one may run it by
    hand, without TLS) and Dask DataFrame by hand use a second Dask cluster that speaks plain
    TCP."""
    workers = os.cpu_count() or 1
    rows_csv = c.generate(rows, work / f"cheap-{rows}.csv")
    blocksize = max(1, rows_csv.stat().st_size // (4 * workers))  # 4 partitions per worker
    times = {name: [] for name in contenders}
    job_times = {}
    memory = {}
    correct = {}
    tls = c.run_tls(work)
    with (
        c.dask_cluster(workers, tls) as scheduler,
        c.dask_cluster(workers)
        if set(contenders) & {PLAIN, DASK_DATAFRAME}
        else contextlib.nullcontext() as plain,
    ):
        warm_up(scheduler, work, workers, tls)
        if plain:
            warm_up(plain, work, workers, [])
        for _ in range(size["rounds"]):
            for name in contenders:
                if name == "single process (pandas)":
                    times[name].append(c.single(rows_csv, work / "single.csv", c.VECTORISED, 0))
                elif name == DASK_DATAFRAME:
                    parts = work / "dask-df"
                    shutil.rmtree(parts, ignore_errors=True)
                    times[name].append(
                        c.dask_dataframe(plain, rows_csv, parts, c.VECTORISED, blocksize)
                    )
                    correct[name] = dask_dataframe_matches(work / "single.csv", parts)
                else:
                    seconds, peaks, job_seconds = c.pipeline(
                        plain if name == PLAIN else scheduler,
                        work,
                        rows_csv,
                        workers=workers,
                        classifier=c.VECTORISED,
                        slowness=0,
                        one_record_per_frame=name == "burst, one record per frame",
                        tls=() if name == PLAIN else tls,
                    )
                    times[name].append(seconds)
                    job_times.setdefault(name, []).append(job_seconds)
                    memory[name] = {
                        k: max(v, memory.get(name, {}).get(k, 0)) for k, v in peaks.items()
                    }
                    correct[name] = same_file(work / "single.csv", work / "out" / "results.csv")
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "rows": rows,
        "workers": workers,
        "contenders": {
            name: {
                "seconds": round(medians[name], 3),
                "rows_per_s": round(rows / medians[name]),
                "rounds": [round(s, 3) for s in times[name]],
                "same_as_single_process": correct.get(name, True),
                **({"peak_rss_bytes": memory[name]} if name in memory else {}),
                **(
                    {"job_seconds": round(statistics.median(job_times[name]), 3)}
                    if name in job_times
                    else {}
                ),
            }
            for name in contenders
        },
    }


def overhead(work: Path, size: dict) -> dict:
    """`make run`: site.yml on the repository's cluster.yaml (provider local, no batch_rows),
    only its name, ports and results directory changed. Its wall time minus the job's own time,
    by phase; and its parallel efficiency from the job's own time, beside the machine's ceiling,
    with the single process and the processes side by side in turn on the same rows."""
    ports = c.free_ports(4)
    cluster = yaml.safe_load((REPO / "cluster.yaml").read_text())
    cluster.update(
        name="bench",
        ports=dict(zip(("scheduler", "dashboard", "source", "receiver"), ports, strict=True)),
        results={"dir": str(work / "overhead-output")},
    )
    cluster["source"]["rows"] = size.get("overhead_rows", cluster["source"]["rows"])
    cluster["job"]["slowness"] = size.get("overhead_slowness", cluster["job"]["slowness"])
    source, job = cluster["source"], cluster["job"]
    workers = cluster["size"] * cluster["workers_per_host"]
    path = work / "overhead.yaml"
    path.write_text(yaml.safe_dump(cluster))
    rows_csv = c.generate(source["rows"], work / "overhead-rows.csv", source["seed"])
    parts = c.split(rows_csv, workers, work)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "BURST_"))},
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "BURST_STATE_DIR": str(work / "overhead-state"),
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
        "PROFILE_TASKS_SORT_ORDER": "none",
        "ANSIBLE_NOCOLOR": "1",
    }
    rounds = []
    for _ in range(size["rounds"]):
        single_s = c.single(rows_csv, work / "single.csv", job["classifier"], job["slowness"])
        beside_s = c.side_by_side(parts, work, job["classifier"], job["slowness"])
        started = time.perf_counter()
        done = subprocess.run(
            [
                Path(sys.executable).parent / "ansible-playbook",
                "playbooks/site.yml",
                "-e",
                f"cluster_file={path}",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        wall = time.perf_counter() - started
        if done.returncode:
            raise RuntimeError("site.yml failed:\n" + done.stdout[-3000:])
        run = max((work / "overhead-output").iterdir())
        manifest = json.loads((run / "manifest.json").read_text())
        single_sha256 = hashlib.sha256((work / "single.csv").read_bytes()).hexdigest()
        if manifest["results_sha256"] != single_sha256:
            raise RuntimeError(f"{run.name}: results.csv differs from the single process's")
        job_s = manifest["seconds"]
        rounds.append(
            {
                "wall_s": round(wall, 3),
                "job_s": job_s,
                "overhead_s": round(wall - job_s, 3),
                "phases": phases(done.stdout),
                "efficiency": c.efficiency(single_s, workers, job_s),
                "machine_ceiling": c.efficiency(single_s, workers, beside_s),
            }
        )
    middle = sorted(rounds, key=lambda r: r["overhead_s"])[len(rounds) // 2]
    return {
        "rows": source["rows"],
        "slowness": job["slowness"],
        "workers": workers,
        **{k: middle[k] for k in ("wall_s", "job_s", "overhead_s", "phases")},
        "rounds": [r["overhead_s"] for r in rounds],
        **{
            key: round(statistics.median(r[key] for r in rounds), 3)
            for key in ("efficiency", "machine_ceiling")
        },
    }


def phases(output: str) -> dict:
    """Seconds per phase, from profile_tasks' recap lines ("<task> ---- 1.23s")."""
    recap = output.split("=" * 20)[-1]
    totals = {}
    for name, seconds in re.findall(r"^(.+?) -{3,} (\d+\.\d+)s$", recap, flags=re.MULTILINE):
        lowered = name.lower()
        phase = next((p for p, words in PHASES if any(w in lowered for w in words)), "other")
        totals[phase] = round(totals.get(phase, 0) + float(seconds), 2)
    return totals


def growth(throughput_big: dict, work: Path, size: dict) -> dict:
    """burst with the cheap classifier on N and 10 N rows: the ratio of the pipeline's own times
    (from its manifests; also from the sender's start to the receiver's exit), and of the peak
    memory of sender, source and receiver."""
    small = throughput(work, size, size["growth_rows"], ("burst",))
    big_burst, small_burst = throughput_big["contenders"]["burst"], small["contenders"]["burst"]
    return {
        "rows": [small["rows"], throughput_big["rows"]],
        "seconds": [small_burst["seconds"], big_burst["seconds"]],
        "job_seconds": [small_burst["job_seconds"], big_burst["job_seconds"]],
        "time_ratio": round(big_burst["job_seconds"] / small_burst["job_seconds"], 3),
        "end_to_end_time_ratio": round(big_burst["seconds"] / small_burst["seconds"], 3),
        "peak_rss_ratio": {
            name: _ratio(big_burst["peak_rss_bytes"][name], small_burst["peak_rss_bytes"][name])
            for name in big_burst["peak_rss_bytes"]
        },
        "peak_rss_bytes": {
            "small": small_burst["peak_rss_bytes"],
            "big": big_burst["peak_rss_bytes"],
        },
    }


def _ratio(big: int, small: int) -> float | None:
    """big ÷ small, or None when either was not measured (0)."""
    return round(big / small, 3) if big and small else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench")
    parser.add_argument("--smoke", action="store_true", help="tiny inputs, one round")
    args = parser.parse_args()
    size = SIZES["smoke" if args.smoke else "full"]
    started = time.time()
    results = {
        "machine": machine(),
        "size": "smoke" if args.smoke else "full",
        "rounds": size["rounds"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results["efficiency"] = efficiency(work, size)
        results["sweep"] = sweep(work, size)
        results["throughput"] = throughput(
            work,
            size,
            size["throughput_rows"],
            (
                "single process (pandas)",
                "burst",
                DASK_DATAFRAME,
                "burst, one record per frame",
                PLAIN,
            ),
        )
        results["growth"] = growth(results["throughput"], work, size)
        results["overhead"] = overhead(work, size)
        (work / "report-cost").mkdir()
        results["report_cost"] = report_cost(
            work / "report-cost",
            size["report_rows"],
            size["slowness"],
            os.cpu_count() or 1,
            size["rounds"],
        )
    results["seconds"] = round(time.time() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_table(results, args.out / "results.md")
    write_chart(results, args.out / "results.png")
    print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
