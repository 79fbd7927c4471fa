"""site.yml across three hosts over real SSH (provider static): network namespaces on a bridge.

Host 0 is the initializer (scheduler, source, a worker), host 1 a worker, host 2 the metrics
host (sender, receiver). The hosts have no route to a package index: the install role gives
each its own virtual environment from the app bundle the controller builds, sent once per host.
Then the faults: a worker killed, the receiver killed, the source killed, each mid-run.
"""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from ansible_collections.burst.cluster.plugins.module_utils import sizing
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import load_cluster_file
from conftest import cluster_file, processes_with_env
from netns_hosts import netns_hosts
from site_runs import (
    FAULT_ROWS,
    FAULT_SEED,
    FAULT_SLOWNESS,
    fastest,
    interleaved,
    read,
    reference,
    run_dir,
    run_with_fault,
    site,
)

pytestmark = [pytest.mark.slow, pytest.mark.hosts]

ROWS, SEED, SLOWNESS = 3000, 8, 200
SEND = (
    "TASK [burst.cluster.install : Send the app and unpack it into a new virtual environment,"
    " with no package index]"
)


def run_processes(namespace: str) -> list[int]:
    """Processes in ``namespace`` that belong to a burst run (they carry BURST_RUN_ID)."""
    pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True)
    found = []
    for pid in pids.stdout.split():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(entry.startswith(b"BURST_RUN_ID=") for entry in environ):
            found.append(int(pid))
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three namespace hosts, and what site.yml needs to run a static cluster on them.

    The hosts' work directories last for the module, so the app is installed once.
    """
    directory = tmp_path_factory.mktemp("hosts")
    with netns_hosts(3, directory) as hosts:
        workdir = directory / "work"
        overrides = {
            "provider": "static",
            "size": 2,
            "workers_per_host": 1,
            "static": {
                "hosts": hosts.addresses,
                "user": hosts.user,
                "ssh_key": str(hosts.ssh_key),
                "workdir": str(workdir),
            },
        }
        env = {"ANSIBLE_PYTHON_INTERPRETER": hosts.ansible_env["ANSIBLE_PYTHON_INTERPRETER"]}
        yield hosts, overrides, env, workdir / "e2e"


def leftovers(hosts) -> dict[str, list[int]]:
    return {ns: pids for ns in hosts.namespaces if (pids := run_processes(ns))}


def hosts_sent_the_bundle(output: str) -> list[str]:
    """The hosts whose task "Send the app bundle" changed them, from ansible-playbook's output."""
    if SEND not in output:
        return []
    task = output.split(SEND, 1)[1].split("\nTASK [", 1)[0]
    return sorted(re.findall(r"^changed: \[([^\]]+)\]", task, re.MULTILINE))


def test_fresh_hosts_without_a_package_index_get_the_bundle_once(tmp_path, cluster):
    """site.yml with no extra variables on hosts that never had the app, twice."""
    hosts, overrides, env, _ = cluster
    reach_pypi = "import socket; socket.create_connection(('pypi.org', 443), timeout=5)"
    for index in range(hosts.count):
        assert hosts.ssh(index, ["python3", "-c", reach_pypi]).returncode != 0
    workdir = tmp_path / "fresh"  # not the module's: no host has the app yet
    overrides = {**overrides, "static": {**overrides["static"], "workdir": str(workdir)}}
    path = cluster_file(
        tmp_path,
        source={"kind": "synthetic", "rows": 2000, "seed": SEED},
        job={"slowness": SLOWNESS, "batch_rows": 100, "timeout": 300},
        **overrides,
    )
    want = read(reference(tmp_path, 2000, SEED, SLOWNESS))
    names = ["e2e-0", "e2e-1", "e2e-metrics"]
    stamps = [workdir / "e2e" / name / "app" / "venv" / "burst-bundle.key" for name in names]

    sent = []
    for attempt, state_dir in enumerate([tmp_path / "first", tmp_path / "second"]):
        result = site(path, None, BURST_STATE_DIR=state_dir, **env)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr
        results = tmp_path / "output"
        assert read(run_dir(results) / "results.csv").equals(want)
        for run in results.iterdir():
            shutil.rmtree(run)
        sent.append(hosts_sent_the_bundle(result.stdout))
        if attempt == 0:
            keys = [stamp.read_text() for stamp in stamps]
            installed = [stamp.stat().st_mtime_ns for stamp in stamps]
            compiled_on_hosts = [
                str(pyc.relative_to(workdir))
                for pyc in (workdir / "e2e").glob("*/app/venv/lib/python*/site-packages/**/*.pyc")
                if int.from_bytes(pyc.read_bytes()[4:8], "little") == 0  # by time: not shipped
            ]
    assert sent == [names, []]
    assert len(set(keys)) == 1
    assert [stamp.stat().st_mtime_ns for stamp in stamps] == installed
    assert not list(workdir.glob("e2e/*/app/bundle*"))
    # The app's processes found their modules compiled: the bundle's bytecode, checked by hash.
    assert not [p for p in compiled_on_hosts if "/classifier/" in p or "/distributed/" in p]
    assert not [p for p in compiled_on_hosts if "/pandas/" in p or "/dask/" in p]


def test_three_hosts_over_ssh_give_the_single_process_answer(tmp_path, state_dir, cluster):
    hosts, overrides, env, workdirs = cluster
    path = cluster_file(
        tmp_path,
        source={"kind": "synthetic", "rows": ROWS, "seed": SEED},
        job={"slowness": SLOWNESS, "batch_rows": 100, "timeout": 300},
        **overrides,
    )
    result = site(path, state_dir, **env)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
    assert f"{ROWS}/{ROWS} (100 %) rows" in result.stdout
    port, first = yaml.safe_load(path.read_text())["ports"]["dashboard"], hosts.addresses[0]
    tunnel = f"ssh -i {hosts.ssh_key} -N -L {port}:{first}:{port} {hosts.user}@{first}"
    dashboard = f"  Dask dashboard, once the scheduler is up: http://localhost:{port}/status\n"
    assert dashboard + f"  through an SSH tunnel: {tunnel}\n" in result.stdout

    run = run_dir(tmp_path / "output")
    got = read(run / "results.csv")
    want = read(reference(tmp_path, ROWS, SEED, SLOWNESS))
    assert got.equals(want)
    manifest = json.loads((run / "manifest.json").read_text())
    assert (manifest["rows_in"], manifest["rows_out"]) == (ROWS, ROWS)
    logs = {p.relative_to(run / "logs").as_posix() for p in (run / "logs").glob("*/*.log")}
    assert {"e2e-0/scheduler.log", "e2e-0/source.log", "e2e-0/worker-0.log"} <= logs
    assert {"e2e-1/worker-0.log", "e2e-metrics/sender.log"} <= logs
    assert "e2e-metrics/receiver.log" in logs
    scheduler_log = (run / "logs" / "e2e-0" / "scheduler.log").read_text()
    assert re.search(rf"Scheduler at: +tls://{re.escape(hosts.addresses[0])}:", scheduler_log)
    assert "tls://" in (run / "logs" / "e2e-1" / "worker-0.log").read_text()
    for host in ("e2e-0", "e2e-1", "e2e-metrics"):
        assert (workdirs / host / "app" / "venv" / "bin" / "python").exists()
        assert list((workdirs / host / "runs").iterdir()) == []
    assert leftovers(hosts) == {}
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
    assert not (state_dir / "e2e" / "stack-outputs.json").exists()


def test_a_worker_host_losing_its_worker_loses_no_row(tmp_path, state_dir, cluster):
    hosts, overrides, env, workdirs = cluster
    code, output = run_with_fault(
        tmp_path, state_dir, "e2e-1", "worker-0", workdirs, overrides=overrides, **env
    )
    assert code == 0, output[-6000:]
    got = read(run_dir(tmp_path / "output") / "results.csv")
    assert got.equals(read(reference(tmp_path, FAULT_ROWS, FAULT_SEED, FAULT_SLOWNESS)))
    assert leftovers(hosts) == {}


@pytest.mark.parametrize(
    ("host", "component", "message"),
    [
        ("e2e-metrics", "receiver", "receiver died before the run finished"),
        ("e2e-0", "source", "source: connection closed before the end of the results"),
    ],
)
def test_a_dead_component_fails_the_run_and_leaves_no_host_busy(
    tmp_path, state_dir, cluster, host, component, message
):
    hosts, overrides, env, workdirs = cluster
    began = time.monotonic()
    code, output = run_with_fault(
        tmp_path, state_dir, host, component, workdirs, overrides=overrides, **env
    )
    assert code != 0
    assert message in output
    assert time.monotonic() - began < 150
    assert leftovers(hosts) == {}
    assert not (state_dir / "e2e" / "stack-outputs.json").exists()


def test_sizing_predicts_a_static_cluster_from_its_runs(tmp_path, state_dir, cluster):
    """Calibration runs, 5 000 rows at 2 workers and 10 000 at 1, each twice, on hosts that
    have the app, taking turns with runs of 30 000 rows at 1 and at 2 workers kept out of the
    history; the calibration's prediction of each is within 20 % of its fastest run."""
    hosts, overrides, env, _ = cluster
    job = {"slowness": 1000, "batch_rows": "auto", "timeout": 300}

    def run(directory, rows, name, **changes):
        directory.mkdir(exist_ok=True)
        path = cluster_file(
            directory,
            f"sizing-{name}.yaml",
            source={"kind": "synthetic", "rows": rows, "seed": 5},
            **{**overrides, "job": job, **changes},
        )
        before = set((directory / "output").glob("*/manifest.json"))
        result = site(path, state_dir, **env)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr
        (manifest,) = set((directory / "output").glob("*/manifest.json")) - before
        return path, json.loads(manifest.read_text())

    run(tmp_path / "warm-up", 100, "warm-up")  # the app installed, outside the history
    # What a fresh host's install wrote is on the disk before anything is measured. Each point
    # is run twice, calibration and predicted points taking turns, as in test_site_sizing: the
    # model takes the lower-middle overhead and is compared with the fastest run of a point, so
    # one slow minute of this shared machine falls on both sides alike.
    os.sync()
    runs, predicted_runs = tmp_path / "runs", tmp_path / "predicted"
    points = {
        "first": lambda attempt: run(runs, 5000, f"first-{attempt}")[1],
        "second": lambda attempt: run(runs, 10000, f"second-{attempt}", size=1)[1],
        **{
            workers: lambda attempt, workers=workers: run(
                predicted_runs, 30000, f"at-{workers}-{attempt}", size=workers
            )[1]
            for workers in (1, 2)
        },
    }
    made = interleaved(points)
    planned = sizing.plan(
        load_cluster_file(runs / "sizing-second-2.yaml", {"source": {"rows": 30000}})
    )
    assert planned["runs"] == 4
    predicted = {line["workers"]: line["seconds"] for line in planned["table"]}
    measured = fastest(
        {workers: points[workers] for workers in (1, 2)},
        made,
        lambda workers, manifest: (
            (predicted[workers] - manifest["wall_seconds"]) / manifest["wall_seconds"] < -0.20
        ),
    )
    took = {workers: fastest_first[0] for workers, fastest_first in measured.items()}
    assert [manifest["workers"] for manifest in took.values()] == [1, 2]
    errors = {w: (predicted[w] - m["wall_seconds"]) / m["wall_seconds"] for w, m in took.items()}
    print(
        f"\nstatic, history of 4 runs, 30000 rows: {planned['model']};"
        + "".join(
            f" {w} worker(s): predicted {predicted[w]} s, took {m['wall_seconds']} s,"
            f" error {errors[w]:+.1%};"
            for w, m in took.items()
        )
    )
    assert all(abs(error) <= 0.20 for error in errors.values())
    assert leftovers(hosts) == {}
