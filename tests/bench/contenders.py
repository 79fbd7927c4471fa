"""What the benchmarks race: the single process, burst's pipeline, and Dask DataFrame by hand.

Every contender runs as its own processes, as a user would run it, and returns its wall time.
"""

import contextlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from ansible_collections.burst.cluster.plugins.module_utils import (
    run_certificates,
)

from classifier import records

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import free_ports  # noqa: E402

PYTHON = sys.executable
BLACK_BOX = "classifier.black_box:classify"
VECTORISED = "classifier.vectorised:classify"


def app(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "classifier", *map(str, args)], **kwargs)


def generate(rows: int, path: Path, seed: int = 0) -> Path:
    """``python -m classifier generate``'s rows, as burst's synthetic source sends them."""
    with open(path, "wb") as out:
        subprocess.run(
            [PYTHON, "-m", "classifier", "generate", "--rows", str(rows), "--seed", str(seed)],
            stdout=out,
            check=True,
        )
    return path


def run_tls(work: Path) -> list[str]:
    """A run's certificates for loopback, made as site.yml makes them, as the app's options."""
    path = str(work / "tls")
    run_certificates.ensure(path, "bench", "bench-run", ["127.0.0.1"])
    files = run_certificates.files(path)
    return [
        *("--tls-ca-file", files["ca_file"]),
        *("--tls-cert", files["cert_file"]),
        *("--tls-key", files["key_file"]),
    ]


@contextlib.contextmanager
def dask_cluster(workers: int, tls: list[str] = ()):
    """A scheduler and ``workers`` one-thread workers on loopback, speaking TLS with the
    run's certificates when ``tls`` gives them; yields the address."""
    (port,) = free_ports(1)
    quiet = {"stderr": subprocess.DEVNULL}
    scheme, protocol = ("tls", ["--protocol", "tls"]) if tls else ("tcp", [])
    processes = [
        app(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--dashboard-address",
            "127.0.0.1:0",
            *protocol,
            *tls,
            **quiet,
        )
    ]
    processes += [
        app(
            "worker",
            f"{scheme}://127.0.0.1:{port}",
            "--nthreads",
            1,
            "--host",
            "127.0.0.1",
            "--no-dashboard",
            *protocol,
            *tls,
            **quiet,
        )
        for _ in range(workers)
    ]
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()


def _classify(rows_csv: Path, out: Path, classifier: str, slowness: int) -> list:
    """The single-process command: ``python -m classifier classify``."""
    options = ["--classifier", classifier, "--slowness", str(slowness)]
    return [PYTHON, "-m", "classifier", "classify", rows_csv, out, *options]


def single(rows_csv: Path, out: Path, classifier: str, slowness: int) -> float:
    started = time.perf_counter()
    subprocess.run(_classify(rows_csv, out, classifier, slowness), check=True)
    return time.perf_counter() - started


def efficiency(single_s: float, workers: int, seconds: float) -> float:
    """Parallel efficiency: one process's seconds ÷ (``workers`` × ``seconds``)."""
    return single_s / (workers * seconds)


def split(rows_csv: Path, parts: int, work: Path) -> list[Path]:
    """``rows_csv`` cut into ``parts`` files of whole records, each with the header."""
    header, _, body = rows_csv.read_bytes().partition(b"\n")
    ends = [0, *records.ends(body).tolist()]
    cuts = [ends[len(ends) * i // parts] if i < parts else len(body) for i in range(parts + 1)]
    paths = []
    for i in range(parts):
        path = work / f"{rows_csv.stem}-part{i}.csv"
        path.write_bytes(header + b"\n" + body[cuts[i] : cuts[i + 1]])
        paths.append(path)
    return paths


def side_by_side(parts: list[Path], work: Path, classifier: str, slowness: int) -> float:
    """Independent single processes, one per part, started together: the machine's ceiling."""
    started = time.perf_counter()
    running = [
        subprocess.Popen(_classify(part, work / f"{part.stem}.out.csv", classifier, slowness))
        for part in parts
    ]
    if any(process.wait() for process in running):
        raise RuntimeError("a single process failed")
    return time.perf_counter() - started


class PeakRss(threading.Thread):
    """Polls the peak resident memory (VmHWM) of named processes until stopped, in bytes;
    0 for a process that ended before it was first seen."""

    def __init__(self, processes: dict):
        super().__init__(daemon=True)
        self.processes, self.peaks, self.done = (
            processes,
            dict.fromkeys(processes, 0),
            threading.Event(),
        )

    def run(self):
        while True:
            for name, process in self.processes.items():
                with contextlib.suppress(OSError, ValueError):
                    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peaks[name] = max(self.peaks[name], int(line.split()[1]) * 1024)
            if self.done.wait(0.02):
                return

    def stop(self) -> dict:
        self.done.set()
        self.join()
        return self.peaks


def pipeline(
    scheduler: str,
    work: Path,
    rows_csv: Path,
    *,
    workers: int,
    classifier: str,
    slowness: int,
    batch_rows: int | None = None,
    max_in_flight: int | None = None,
    one_record_per_frame: bool = False,
    tls: list[str] = (),
    source_args: tuple = (),
) -> tuple[float, dict, float]:
    """burst's pipeline on a running Dask cluster: (seconds from the sender's start to the
        receiver's exit, peak RSS of sender, source and receiver, the pipeline's own seconds from
        its manifest). burst's own defaults (batch_rows auto, two tasks in flight per worker)
    unless ``batch_rows`` or ``max_in_flight`` say otherwise.
        With ``tls`` (the run's certificates, as site.yml always runs it) every link speaks TLS."""
    source_port, receiver_port = free_ports(2)
    logs = {name: (work / f"{name}.log").open("wb") for name in ("receiver", "source", "sender")}
    receiver = app(
        "receive",
        "--listen",
        f"127.0.0.1:{receiver_port}",
        "--out",
        work / "out",
        *tls,
        stderr=logs["receiver"],
    )
    source = app(
        "source",
        "--listen",
        f"127.0.0.1:{source_port}",
        "--scheduler",
        scheduler,
        "--sink",
        f"127.0.0.1:{receiver_port}",
        "--workers",
        workers,
        "--classifier",
        classifier,
        "--slowness",
        slowness,
        *(["--batch-rows", batch_rows] if batch_rows else []),
        *(["--max-in-flight", max_in_flight] if max_in_flight else []),
        *tls,
        *source_args,
        stderr=logs["source"],
    )
    try:
        time.sleep(1.5)
        started = time.perf_counter()
        extra = ["--one-record-per-frame"] if one_record_per_frame else []
        sender = app(
            "send",
            "--to",
            f"127.0.0.1:{source_port}",
            "--file",
            rows_csv,
            *extra,
            *tls,
            stderr=logs["sender"],
        )
        memory = PeakRss({"sender": sender, "source": source, "receiver": receiver})
        memory.start()
        try:
            if sender.wait(timeout=3600) or receiver.wait(timeout=3600) or source.wait(timeout=60):
                raise RuntimeError(f"the pipeline failed:\n{_tails(logs)}")
        finally:
            peaks = memory.stop()
        seconds = time.perf_counter() - started
        manifest = json.loads((work / "out" / "manifest.json").read_text())
        return seconds, peaks, manifest["seconds"]
    finally:
        for process in (receiver, source):
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in logs.values():
            log.close()


def _tails(logs: dict, lines: int = 20) -> str:
    """The last lines each process of the pipeline wrote to its stderr."""
    return "\n".join(
        f"{name}: " + "\n  ".join(Path(log.name).read_text(errors="replace").splitlines()[-lines:])
        for name, log in logs.items()
    )


DASK_DATAFRAME = """
import sys
import dask.dataframe as dd
from distributed import Client
from classifier.calling import load_classifier

scheduler, source, target, classifier, blocksize = sys.argv[1:]
classify = load_classifier(classifier)

def classify_partition(frame):
    frame = frame.set_index(frame.columns[0])
    return frame.assign(CLASSIFICATION=classify(frame, slowness=0))

with Client(scheduler):
    frame = dd.read_csv(source, dtype=str, keep_default_na=False, blocksize=int(blocksize))
    frame.map_partitions(classify_partition).to_csv(target, index=True)
"""


def dask_dataframe(
    scheduler: str, rows_csv: Path, out_dir: Path, classifier: str, blocksize: int
) -> float:
    """The Dask DataFrame path a Dask user writes by hand: read_csv → map_partitions → to_csv."""
    started = time.perf_counter()
    subprocess.run(
        [
            PYTHON,
            "-c",
            DASK_DATAFRAME,
            scheduler,
            rows_csv,
            out_dir / "part-*.csv",
            classifier,
            str(blocksize),
        ],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started
