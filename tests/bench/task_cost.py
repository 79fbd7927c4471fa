"""What a task costs burst beyond its rows, and what the worker's CSV parser and writer and the
receiver's compression cost, measured.

    .venv/bin/python tests/bench/task_cost.py pipeline   # the data plane, small and big batches
    .venv/bin/python tests/bench/task_cost.py formats    # parsers, writers, gzip levels

``pipeline`` runs the hand-started data plane (a scheduler and two one-thread workers, then
``receive``, ``source`` and ``send``) on the same rows with small batches and with big ones,
alternating, and takes the CPU seconds of every process (the Dask cluster's from psutil, the
others' from the kernel as each exits) and the wall time from the sender's start to the
receiver's exit. What a task costs beyond its rows is the difference ÷ the difference in tasks.
"""

import argparse
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import contenders as c
import pandas as pd
import psutil
from isal import isal_zlib

from classifier import arrow_csv, batches


def _cluster_cpu() -> dict:
    """CPU seconds so far of this process's Dask scheduler and of its workers (with their
    nannies): every child process still running is the cluster's."""
    cpu = {"scheduler": 0.0, "workers": 0.0}
    for process in psutil.Process().children(recursive=True):
        try:
            role = "scheduler" if "scheduler" in process.cmdline() else "workers"
            times = process.cpu_times()
        except psutil.Error:
            continue
        cpu[role] += times.user + times.system
    return cpu


def _reap(process: subprocess.Popen) -> float:
    """Wait for ``process``; its CPU seconds. A failure raises."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{process.args[3]} exited with status {process.returncode}")
    return usage.ru_utime + usage.ru_stime


def pipeline_run(scheduler: str, work: Path, rows_csv: Path, batch_rows: int, args) -> dict:
    """One run of the data plane at ``batch_rows``: wall seconds and each process's CPU seconds."""
    cluster_before = _cluster_cpu()
    source_port, receiver_port = c.free_ports(2)
    out = work / f"out-{batch_rows}"
    logs = {name: open(work / f"{name}.log", "wb") for name in ("receiver", "source", "sender")}
    receiver = c.app(
        "receive", "--listen", f"127.0.0.1:{receiver_port}", "--out", out, stderr=logs["receiver"]
    )
    source = c.app(
        *("source", "--listen", f"127.0.0.1:{source_port}", "--scheduler", scheduler),
        *("--sink", f"127.0.0.1:{receiver_port}", "--workers", 2, "--batch-rows", batch_rows),
        *("--classifier", args.classifier, "--slowness", args.slowness),
        *(["--max-in-flight", args.max_in_flight] if args.max_in_flight else []),
        stderr=logs["source"],
    )
    sender = None
    try:
        time.sleep(1.5)  # the source's and the receiver's imports, outside the timing
        started = time.perf_counter()
        sender = c.app(
            "send", "--to", f"127.0.0.1:{source_port}", "--file", rows_csv, stderr=logs["sender"]
        )
        cpu = {"sender": _reap(sender), "receiver": _reap(receiver)}
        wall = time.perf_counter() - started
        cpu["source"] = _reap(source)
        cpu |= {role: used - cluster_before[role] for role, used in _cluster_cpu().items()}
    except RuntimeError:
        for name in logs:
            sys.stderr.write((work / f"{name}.log").read_text()[-2000:])
        raise
    finally:
        for process in (sender, receiver, source):
            if process is not None and process.returncode is None:
                process.kill()
                process.wait()
        for log in logs.values():
            log.close()
    manifest = json.loads((out / "manifest.json").read_text())
    if not (manifest["complete"] and manifest["rows_out"] == args.rows):
        raise RuntimeError(f"the run at {batch_rows} rows a batch is not complete: {manifest}")
    return {"wall": wall, "cpu": cpu, "sha256": manifest["results_sha256"]}


def pipeline(args) -> None:
    with tempfile.TemporaryDirectory(prefix="burst-task-cost-") as tmp:
        work = Path(tmp)
        rows_csv = c.generate(args.rows, work / "rows.csv")
        runs = {size: [] for size in (args.small, args.big)}
        with c.dask_cluster(2) as scheduler:
            time.sleep(3)  # the workers join
            for _ in range(args.rounds):
                for size in runs:
                    runs[size].append(pipeline_run(scheduler, work, rows_csv, size, args))
        if len({run["sha256"] for size in runs for run in runs[size]}) != 1:
            raise RuntimeError("the runs' results differ")
    tasks = {size: math.ceil(args.rows / size) for size in runs}
    extra_tasks = tasks[args.small] - tasks[args.big]
    names = ["sender", "source", "receiver", "scheduler", "workers"]

    def median(size, pick):
        return statistics.median(pick(run) for run in runs[size])

    figures = {
        "wall": lambda run: run["wall"],
        "cpu, all processes": lambda run: sum(run["cpu"].values()),
        **{f"cpu, {name}": (lambda run, name=name: run["cpu"][name]) for name in names},
    }
    print(
        f"{args.rows} rows, {args.classifier} slowness {args.slowness}, 2 workers,"
        f" {args.rounds} rounds, medians"
    )
    print(
        f"| seconds | {args.small} rows a batch ({tasks[args.small]} tasks) |"
        f" {args.big} rows a batch ({tasks[args.big]} tasks) | a task's own, ms |"
    )
    print("| --- | --- | --- | --- |")
    for label, pick in figures.items():
        small, big = median(args.small, pick), median(args.big, pick)
        print(f"| {label} | {small:.3f} | {big:.3f} | {1000 * (small - big) / extra_tasks:.2f} |")


def _best(function, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.process_time()
        function()
        times.append(time.process_time() - started)
    return min(times)


def worker(args) -> None:
    """``batches.process`` in this process on batches of the synthetic rows, small and big: a
    task's own CPU seconds on its worker, and a row's."""
    from classifier import calling, records

    with tempfile.TemporaryDirectory(prefix="burst-task-cost-") as tmp:
        data = c.generate(args.big * args.tasks, Path(tmp) / "rows.csv").read_bytes()
    header, body = data[: data.index(b"\n") + 1], data[data.index(b"\n") + 1 :]
    ends = [0, *records.ends(body).tolist()]
    call = calling.Call(args.classifier, args.slowness)
    seconds = {}
    for size in (args.small, args.big):
        cut = [
            batches.Batch(header, body[ends[start] : ends[start + size]], 2 + start, size)
            for start in range(0, size * args.tasks, size)
        ]
        batches.process(cut[0], call)  # imports, outside the timing
        seconds[size] = _best(lambda cut=cut: [batches.process(b, call) for b in cut], args.rounds)
        seconds[size] /= args.tasks
    row = (seconds[args.big] - seconds[args.small]) / (args.big - args.small)
    print(f"{args.classifier} slowness {args.slowness}, best of {args.rounds}, CPU seconds")
    for size in (args.small, args.big):
        print(f"| a task of {size} rows | {1000 * seconds[size]:.2f} ms |")
    print(f"| a row | {1e6 * row:.2f} µs |")
    print(f"| a task beyond its rows | {1000 * (seconds[args.small] - args.small * row):.2f} ms |")


def formats(args) -> None:
    """Parsers, writers and gzip levels on the synthetic rows, CPU seconds in this process."""
    import pyarrow.csv

    with tempfile.TemporaryDirectory(prefix="burst-task-cost-") as tmp:
        rows_csv = c.generate(args.rows, Path(tmp) / "rows.csv")
        data = rows_csv.read_bytes()
    print(f"{args.rows} rows, {len(data) / 1e6:.1f} MB, best of {args.rounds}, CPU seconds")
    print("| what | seconds |")
    print("| --- | --- |")

    def read_c():
        return pd.read_csv(io.BytesIO(data), **batches.READ_OPTIONS)

    def read_pyarrow_engine():
        return pd.read_csv(io.BytesIO(data), engine="pyarrow", **batches.READ_OPTIONS)

    header = data[: data.index(b"\n") + 1]
    batch = batches.Batch(header, data[len(header) :], 2, args.rows)

    for label, reader in (
        ("parse: pandas' C engine (burst's where pyarrow is not installed)", read_c),
        ('parse: pandas, engine="pyarrow"', read_pyarrow_engine),
        (
            "parse: pyarrow.csv, one thread, every field text (burst's)",
            lambda: batches._read_arrow(batch),
        ),
    ):
        print(f"| {label} | {_best(reader, args.rounds):.3f} |")
    frame = batches._read_arrow(batch)
    frame["CLASSIFICATION"] = pd.util.hash_pandas_object(frame).to_numpy() / 2.0**64
    written = frame.to_csv(lineterminator="\n").encode()
    rows = written.partition(b"\n")[2]
    table = pyarrow.Table.from_pandas(frame)
    arrow_written = io.BytesIO()
    pyarrow.csv.write_csv(table, arrow_written)
    for label, writer, same in (
        (
            "write: to_csv (burst's where pyarrow is not installed)",
            lambda: frame.to_csv(lineterminator="\n"),
            True,
        ),
        (
            "write: arrow_csv, the rows (burst's)",
            lambda: arrow_csv.rows(frame),
            arrow_csv.rows(frame) == rows,
        ),
        (
            "write: pyarrow.csv.write_csv",
            lambda: pyarrow.csv.write_csv(table, io.BytesIO()),
            arrow_written.getvalue() == written,
        ),
    ):
        shown = "the same bytes" if same else "other bytes"
        print(f"| {label}, {shown} | {_best(writer, args.rounds):.3f} |")
    for name, module in (("zlib", zlib), ("ISA-L (burst's)", isal_zlib)):
        for level in args.levels:
            if name == "zlib" or level <= isal_zlib.ISAL_BEST_COMPRESSION:
                _deflate_row(name, module, level, written, args.rounds)


def _deflate_row(name: str, module, level: int, written: bytes, rounds: int) -> None:
    def deflate():
        return module.compress(written, level, 16 + 15)

    seconds = _best(deflate, rounds)
    size = len(deflate())
    print(
        f"| gzip, {name} level {level}, of the {len(written) / 1e6:.1f} MB results | {seconds:.3f}"
        f" ({len(written) / 1e6 / seconds:.0f} MB/s, {100 * size / len(written):.1f} %"
        " of the size) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("pipeline", help="a task's own cost in the data plane")
    run.add_argument("--rows", type=int, default=20_000)
    run.add_argument("--small", type=int, default=100, help="rows a batch, small")
    run.add_argument("--big", type=int, default=2000, help="rows a batch, big")
    run.add_argument("--classifier", default=c.BLACK_BOX)
    run.add_argument("--slowness", type=int, default=10)
    run.add_argument("--rounds", type=int, default=3)
    run.add_argument("--max-in-flight", type=int, help="the source's; default: its own")
    alone = commands.add_parser("worker", help="a task's own cost on its worker, in process")
    alone.add_argument("--small", type=int, default=100)
    alone.add_argument("--big", type=int, default=10_000)
    alone.add_argument("--tasks", type=int, default=20, help="of each size")
    alone.add_argument("--classifier", default=c.VECTORISED)
    alone.add_argument("--slowness", type=int, default=0)
    alone.add_argument("--rounds", type=int, default=5)
    sizes = commands.add_parser("formats", help="parsers, writers and gzip levels")
    sizes.add_argument("--rows", type=int, default=1_000_000)
    sizes.add_argument("--rounds", type=int, default=3)
    sizes.add_argument("--levels", type=int, nargs="+", default=[0, 1, 3, 6])
    args = parser.parse_args()
    {"pipeline": pipeline, "worker": worker, "formats": formats}[args.command](args)


if __name__ == "__main__":
    main()
