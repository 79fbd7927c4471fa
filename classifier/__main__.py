"""python -m classifier: the app's one command line."""

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path

from classifier import calling, framing, memory, records, stalls, tls, watchdog

DEFAULT_CLASSIFIER = "classifier.black_box:classify"
# The processes a run waits for. Once one returns, its files are closed and its connections
# ended; the interpreter's teardown of pandas, pyarrow and Dask would still take it some
# tenths of a second, on every run's critical path.
ENDS_AT_ONCE = ("send", "source", "receive")


def _address(text: str) -> tuple[str, int]:
    try:
        return framing.parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _classifier_args(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or "slowness" in value:
        raise argparse.ArgumentTypeError(
            f"expected a JSON object of keyword arguments other than slowness, got {text!r}"
        )
    return value


def _controller(text: str) -> tuple[int, float]:
    try:
        return watchdog.parse_controller(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _max_rejects(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not (value == 0 or 0 < value < 1 or (value >= 1 and value.is_integer())):
        raise argparse.ArgumentTypeError(
            f"expected a whole number of rows or a fraction below 1, got {text!r}"
        )
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m classifier", description=__doc__)
    parser.add_argument(
        "--exit-file",
        type=Path,
        help="write the exit status, and the error if any, to this file on exit",
    )
    parser.add_argument(
        "--controller",
        type=_controller,
        metavar="PID@CREATE_TIME",
        help="stop when this process (the run's ansible-playbook, on this machine) is gone",
    )
    parser.add_argument(
        "--max-lifetime",
        type=float,
        metavar="SECONDS",
        help="stop when this many seconds have passed",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write the synthetic CSV to stdout")
    generate.add_argument("--rows", type=int, required=True)
    generate.add_argument("--seed", type=int, default=0)

    classify = commands.add_parser("classify", help="the whole job in one process")
    classify.add_argument("input")
    classify.add_argument("output")

    trial = commands.add_parser(
        "try", help="call the classifier on the input's first rows, as a worker calls it"
    )
    sample = trial.add_mutually_exclusive_group(required=True)
    sample.add_argument("--file", help="a CSV file")
    sample.add_argument("--seed", type=int, help="synthetic rows of this seed")
    sample.add_argument("--no-rows", metavar="WHY", help="check only how it is called, and why")

    receive = commands.add_parser("receive", help="write the results the source streams")
    receive.add_argument("--listen", type=_address, required=True)
    receive.add_argument("--out", type=Path, required=True)

    source = commands.add_parser("source", help="batch rows into Dask tasks")
    source.add_argument("--listen", type=_address, required=True)
    source.add_argument("--scheduler", required=True, help="Dask scheduler address")
    source.add_argument("--sink", type=_address, required=True, help="the receiver")
    source.add_argument(
        "--batch-rows",
        type=_batch_rows,
        default=None,
        metavar="N|auto",
        help="rows per Dask task, or auto: sized from what the workers measure (job.batch_rows)",
    )
    source.add_argument(
        "--max-in-flight",
        type=int,
        default=0,
        help="most Dask tasks in flight at once; 0: twice the workers (job.max_in_flight)",
    )
    source.add_argument("--workers", type=int, default=1, help="workers to wait for")
    source.add_argument("--connect-timeout", type=float, default=60)
    source.add_argument(
        "--on-error",
        choices=("fail", "reject"),
        default="fail",
        help="when the classifier raises: fail the run, or reject the batch's rows",
    )
    source.add_argument(
        "--max-rejects",
        type=_max_rejects,
        help="fail the run past this many rejected rows (below 1: a fraction of the rows in)",
    )
    source.add_argument(
        "--stall-timeout",
        type=_seconds,
        default=stalls.TIMEOUT,
        help="seconds without a finished batch after which a worker that holds one and has"
        " sent no heartbeat as long is removed (job.stall_timeout)",
    )
    source.add_argument(
        "--report-dir",
        type=Path,
        help="where to write the run's task stream (batches.csv) and Dask's dask-report.html",
    )

    for role in ("scheduler", "worker"):
        dask = commands.add_parser(
            role, help=f"dask {role} with burst's settings", add_help=False, prefix_chars="\0"
        )
        dask.add_argument("dask_args", nargs=argparse.REMAINDER)

    send = commands.add_parser("send", help="stream rows to the source")
    send.add_argument("--to", type=_address, required=True)
    rows = send.add_mutually_exclusive_group(required=True)
    rows.add_argument("--rows", type=int, help="synthetic rows")
    rows.add_argument("--file", help="a CSV file")
    rows.add_argument("--s3", metavar="URL", help="a CSV object, s3://bucket/key")
    send.add_argument("--seed", type=int, default=0)
    send.add_argument(
        "--one-record-per-frame",
        action="store_true",
        help="frame each record alone, as the seed's send.py did",
    )
    send.add_argument("--connect-timeout", type=float, default=60)
    for command in (classify, trial, source):
        command.add_argument("--classifier", default=DEFAULT_CLASSIFIER, help="module:function")
        command.add_argument("--slowness", type=int, default=calling.SLOWNESS)
        command.add_argument(
            "--classifier-args",
            type=_classifier_args,
            default={},
            metavar="JSON",
            help="keyword arguments of the classifier, a JSON object (job.classifier_args)",
        )
        command.add_argument(
            "--result-column",
            default=calling.RESULT_COLUMN,
            help="the name of the classification's column (job.result_column)",
        )
    for command in (receive, source, send):
        tls.add_options(command)
    for command in (receive, source, send, trial):
        command.add_argument(
            "--max-frame-bytes",
            type=int,
            default=framing.MAX_FRAME_BYTES,
            help="the largest frame to send or accept (job.max_frame_bytes)",
        )
        command.add_argument(
            "--memory-budget",
            type=int,
            help="the most resident memory, in bytes, before the process fails naming it"
            " (default: 512 MiB and, per frame it may hold, job.max_frame_bytes)",
        )
    for command in (source, send, trial):
        command.add_argument(
            "--max-columns",
            type=int,
            default=records.MAX_COLUMNS,
            help="the most columns a header may have (job.max_columns)",
        )
    for command in (receive, source):
        command.add_argument(
            "--first-frame-timeout",
            type=float,
            default=30,
            help="seconds a connection has to send its first frame before it is refused",
        )
    return parser


def main(argv=None) -> int:
    return run(_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """The command ``args`` name, run; its exit status."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    signal.signal(signal.SIGTERM, _interrupt)  # as SIGINT: the exit file still says how it ended
    watchdog.start(args.controller, args.max_lifetime, logging.getLogger("burst.watchdog"))
    status, error = 1, f"{args.command}: ended by an unexpected error (see its log)"
    try:
        _watch_memory(args)
        status, error = _command(args), None
    except calling.ClassifierError as raised:
        error = f"{args.command}: {raised}"
        logging.getLogger("burst").error("%s", error)
    except framing.PeerLost as lost:
        error = f"{args.command}: {lost}"
        logging.getLogger("burst").error("%s", error)
        status = framing.PEER_LOST_STATUS
    except (ValueError, OSError, memory.OverBudget) as problem:
        error = f"{args.command}: {problem}"
        logging.getLogger("burst").error("%s", error)
        status = 2
    except KeyboardInterrupt as signal_name:
        status, error = 130, f"{args.command}: stopped by {str(signal_name) or 'SIGINT'}"
    finally:
        if args.exit_file:
            partial = args.exit_file.with_name(args.exit_file.name + ".partial")
            partial.write_text(f"{status}\n{error or ''}\n", encoding="utf-8")
            partial.replace(args.exit_file)
    return status


def _batch_rows(text: str) -> int | None:
    """``auto`` (None) or a number of rows of at least 1."""
    if text == "auto":
        return None
    try:
        rows = int(text)
    except ValueError:
        rows = 0
    if rows < 1:
        raise argparse.ArgumentTypeError(
            f"expected auto or a number of rows of 1 or more, got {text!r}"
        )
    return rows


def _watch_memory(args) -> None:
    if args.command not in memory.FRAMES:
        return
    frames = memory.budget(args.command, args.max_frame_bytes)
    limit = args.memory_budget or frames
    memory.watch(limit, memory.describe(args.command, limit, args.max_frame_bytes))


def _call(args) -> calling.Call:
    return calling.Call(args.classifier, args.slowness, args.classifier_args, args.result_column)


def _command(args) -> int:
    if args.command in ("scheduler", "worker"):
        from classifier import dask_cluster

        return dask_cluster.run(args.command, args.dask_args)
    if args.command == "generate":
        from classifier import synthetic

        out = sys.stdout.buffer
        for chunk in synthetic.chunks(args.rows, args.seed, 1000):
            out.write(chunk)
        out.flush()
        return 0
    if args.command == "classify":
        from classifier import reference

        reference.classify_file(args.input, args.output, _call(args))
        return 0
    if args.command == "try":
        from classifier import sender, synthetic, trial

        def open_rows():
            if args.file:
                limits = (args.max_frame_bytes, args.max_columns)
                return sender.file_payloads(args.file, True, *limits)
            return synthetic.chunks(trial.SAMPLE_ROWS, args.seed, 1)

        print(trial.run(_call(args), None if args.no_rows else open_rows, args.no_rows))
        return 0
    if args.command == "receive":
        from classifier import receiver

        run_tls = tls.from_args(args)
        return receiver.run(
            args.listen, args.out, args.max_frame_bytes, args.first_frame_timeout, run_tls
        )
    if args.command == "source":
        from classifier import source

        job = source.Job(
            _call(args),
            args.batch_rows,
            args.max_in_flight,
            args.workers,
            args.on_error,
            args.max_rejects,
            args.max_frame_bytes,
            args.first_frame_timeout,
            args.max_columns,
            args.stall_timeout,
        )
        return source.run(
            args.listen,
            args.scheduler,
            args.sink,
            job,
            args.connect_timeout,
            tls.from_args(args),
            args.report_dir,
        )
    from classifier import sender

    if args.file:
        rows = sender.file_payloads(
            args.file, args.one_record_per_frame, args.max_frame_bytes, args.max_columns
        )
    elif args.s3:
        rows = sender.s3_payloads(
            args.s3, args.one_record_per_frame, args.max_frame_bytes, args.max_columns
        )
    else:
        rows = sender.synthetic_payloads(args.rows, args.seed, args.one_record_per_frame)
    return sender.run(
        args.to,
        rows.payloads,
        args.connect_timeout,
        tls.from_args(args),
        args.one_record_per_frame,
        rows.identity,
        rows.size,
    )


def exit_at_once(status: int):
    """End the process now, its logs and standard streams flushed, skipping the teardown."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    command_line = _parser().parse_args()
    status = run(command_line)
    if command_line.command in ENDS_AT_ONCE:
        exit_at_once(status)
    sys.exit(status)
