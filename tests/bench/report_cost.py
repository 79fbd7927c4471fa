"""What the run's report costs the job: burst's pipeline on the black box with and without the
source's part of it (batches.csv and Dask's performance report), alternating, each run on a
fresh Dask cluster, round after round; medians of the manifest's job seconds.

    python tests/bench/report_cost.py --rows 20000 --slowness 1000 --rounds 3
"""

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import contenders as c


def report_cost(work: Path, rows: int, slowness: int, workers: int, rounds: int) -> dict:
    rows_csv = c.generate(rows, work / "rows.csv")
    tls = c.run_tls(work)
    seconds = {"without": [], "with": []}
    options = {"workers": workers, "classifier": c.BLACK_BOX, "slowness": slowness, "tls": tls}
    for number in range(rounds):
        order = ("without", "with") if number % 2 == 0 else ("with", "without")
        for kind in order:
            report = ("--report-dir", work / "report") if kind == "with" else ()
            with c.dask_cluster(workers, tls) as scheduler:
                _, _, job_seconds = c.pipeline(
                    scheduler, work, rows_csv, source_args=report, **options
                )
            seconds[kind].append(job_seconds)
    if not (work / "report" / "dask-report.html").is_file():
        raise RuntimeError("the source wrote no dask-report.html")
    without, with_report = (statistics.median(seconds[k]) for k in ("without", "with"))
    return {
        "rows": rows,
        "slowness": slowness,
        "workers": workers,
        "job_seconds": seconds,
        "median_without": round(without, 3),
        "median_with": round(with_report, 3),
        "cost_percent": round(100 * (with_report / without - 1), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--slowness", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="burst-report-cost-") as work:
        result = report_cost(Path(work), args.rows, args.slowness, args.workers, args.rounds)
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
