"""How burst's workers spent a run of the black box: for each batch setting, the parallel
efficiency and, per worker, its tasks, the seconds it ran them, the gaps between them and
when it started and stopped (and how far apart the workers stopped), from the run's
``batches.csv``.

    PYTHONPATH=collections .venv/bin/python tests/bench/worker_timeline.py \\
        --rows 20000 --slowness 100 --batch-rows auto,5000 --rounds 2

The hand-started data plane on a scheduler and one one-thread worker per core, with TLS, as
``make bench``'s sweep runs it; each round runs the single process first, then every
setting, in turn.
"""

import argparse
import csv
import os
import statistics
import sys
import tempfile
from pathlib import Path

import contenders as c
from suite import black_box_pipeline, warm_up


def timeline(batches_csv: Path) -> dict:
    """Each worker's tasks, busy seconds, gaps and first start and last stop, from the run's
    first start."""
    with open(batches_csv, newline="") as stream:
        tasks = [
            (task["worker"], float(task["started_at"]), float(task["stopped_at"]))
            for task in csv.DictReader(stream)
        ]
    began = min(start for _, start, _ in tasks)
    workers = {}
    for worker, start, stop in sorted(tasks, key=lambda task: task[1]):
        spans = workers.setdefault(worker, [])
        spans.append((start - began, stop - began))
    return {
        worker: {
            "tasks": len(spans),
            "busy": sum(stop - start for start, stop in spans),
            "gaps": sum(max(0.0, b[0] - a[1]) for a, b in zip(spans, spans[1:], strict=False)),
            "first": spans[0][0],
            "last": max(stop for _, stop in spans),
        }
        for worker, spans in workers.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--slowness", type=int, default=100)
    parser.add_argument("--batch-rows", default="auto,5000", help="settings, comma-separated")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    settings = [None if s == "auto" else int(s) for s in args.batch_rows.split(",")]
    workers = os.cpu_count() or 1
    efficiencies = {str(s or "auto"): [] for s in settings}
    apart = {name: [] for name in efficiencies}  # how far apart the workers stopped, seconds
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        tls = c.run_tls(work)
        with c.dask_cluster(workers, tls) as scheduler:
            warm_up(scheduler, work, workers, tls)
            rows_csv = c.generate(args.rows, work / "rows.csv")
            for _ in range(args.rounds):
                single = c.single(rows_csv, work / "single.csv", c.BLACK_BOX, args.slowness)
                for batch_rows in settings:
                    report = ("--report-dir", work / "report")
                    seconds = black_box_pipeline(
                        scheduler, work, rows_csv, workers, args.slowness, tls, batch_rows, report
                    )
                    name = str(batch_rows or "auto")
                    efficiencies[name].append(c.efficiency(single, workers, seconds))
                    spent = timeline(work / "report" / "batches.csv")
                    busy = sum(run["busy"] for run in spent.values())
                    print(
                        f"{name}: efficiency {efficiencies[name][-1]:.3f} ({seconds:.3f} s),"
                        f" workers busy {busy:.2f} s, {1000 * busy / args.rows:.3f} ms a row"
                    )
                    for worker, run in spent.items():
                        print(
                            f"  {worker}: {run['tasks']} tasks, busy {run['busy']:.2f} s,"
                            f" gaps {run['gaps']:.2f} s, {run['first']:.2f} to {run['last']:.2f} s"
                        )
                    stops = [run["last"] for run in spent.values()]
                    apart[name].append(max(stops) - min(stops))
                    print(f"  the workers stopped {apart[name][-1]:.3f} s apart")
                    sys.stdout.flush()
    medians = {name: round(statistics.median(values), 3) for name, values in efficiencies.items()}
    print(f"median efficiency over {args.rounds} round(s): {medians}")
    apart = {name: round(statistics.median(values), 3) for name, values in apart.items()}
    print(f"median seconds between the workers' last stops: {apart}")


if __name__ == "__main__":
    main()
