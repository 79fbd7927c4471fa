"""site.yml across three hosts over real SSH (provider static): network namespaces on a bridge.

Host 0 is the initializer (scheduler, source, a worker), host 1 a worker, host 2 the metrics
host (sender, receiver). The install role gives each its own virtual environment from a
wheelhouse the controller builds, since the hosts have no route to a package index. Then the
faults: a worker killed, the receiver killed, the source killed, each mid-run.
"""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ansible_collections.burst.cluster.plugins.module_utils import sizing
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import load_cluster_file
from conftest import BIN, REPO, cluster_file, processes_with_env
from netns_hosts import netns_hosts
from site_runs import (
    FAULT_ROWS,
    FAULT_SEED,
    FAULT_SLOWNESS,
    read,
    reference,
    run_dir,
    run_with_fault,
    site,
)

pytestmark = [pytest.mark.slow, pytest.mark.hosts]

ROWS, SEED, SLOWNESS = 3000, 8, 200
PIP_ARGS = ["--no-index", "--find-links"]


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory):
    """Wheels of the app and every pinned dependency, for hosts without a package index."""
    directory = tmp_path_factory.mktemp("wheelhouse")
    build = tmp_path_factory.mktemp("wheel-build")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", directory]
        + ["--constraint", REPO / "constraints.txt", REPO, "setuptools"],
        cwd=build,
        env={"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PATH": f"{BIN}:/usr/bin:/bin"},
        check=True,
        timeout=900,
    )
    return directory


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
def cluster(tmp_path_factory, wheelhouse):
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
        extra = ["-e", json.dumps({"install_pip_extra_args": PIP_ARGS + [str(wheelhouse)]})]
        env = {"ANSIBLE_PYTHON_INTERPRETER": hosts.ansible_env["ANSIBLE_PYTHON_INTERPRETER"]}
        yield hosts, overrides, extra, env, workdir / "e2e"


def leftovers(hosts) -> dict[str, list[int]]:
    return {ns: pids for ns in hosts.namespaces if (pids := run_processes(ns))}


def test_three_hosts_over_ssh_give_the_single_process_answer(tmp_path, state_dir, cluster):
    hosts, overrides, extra, env, workdirs = cluster
    path = cluster_file(
        tmp_path,
        source={"kind": "synthetic", "rows": ROWS, "seed": SEED},
        job={"slowness": SLOWNESS, "batch_rows": 100, "timeout": 300},
        **overrides,
    )
    result = site(path, state_dir, *extra, **env)
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
    hosts, overrides, extra, env, workdirs = cluster
    code, output = run_with_fault(
        tmp_path, state_dir, "e2e-1", "worker-0", workdirs, *extra, overrides=overrides, **env
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
    hosts, overrides, extra, env, workdirs = cluster
    began = time.monotonic()
    code, output = run_with_fault(
        tmp_path, state_dir, host, component, workdirs, *extra, overrides=overrides, **env
    )
    assert code != 0
    assert message in output
    assert time.monotonic() - began < 150
    assert leftovers(hosts) == {}
    assert not (state_dir / "e2e" / "stack-outputs.json").exists()


def test_sizing_predicts_a_static_cluster_from_its_runs(tmp_path, state_dir, cluster):
    """Two calibration runs at 5 000 and 10 000 rows at 2 workers; then 30 000 rows at 1
    worker, and with size auto and a deadline only size 2 meets: each within 20 % of its
    prediction, and auto takes size 2."""
    hosts, overrides, extra, env, _ = cluster
    job = {"slowness": 1000, "batch_rows": "auto", "timeout": 300}

    def run(rows, name, **changes):
        path = cluster_file(
            tmp_path,
            f"sizing-{name}.yaml",
            source={"kind": "synthetic", "rows": rows, "seed": 5},
            **{**overrides, "job": job, **changes},
        )
        before = set((tmp_path / "output").glob("*/manifest.json"))
        result = site(path, state_dir, *extra, **env)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr
        (manifest,) = set((tmp_path / "output").glob("*/manifest.json")) - before
        return path, json.loads(manifest.read_text())

    runs = [run(5000, "first")[1]]
    path, second = run(10000, "second")
    runs.append(second)
    config = load_cluster_file(path, {"source": {"rows": 30000}})
    planned = sizing.plan(config)
    predicted = {line["size"]: line["seconds"] for line in planned["table"]}
    assert planned["runs"] == 2 and predicted[1] > predicted[2]
    deadline = round((predicted[1] + predicted[2]) / 2 / config["sizing"]["margin"])
    runs.append(run(30000, "one", size=1)[1])
    runs.append(run(30000, "auto", size="auto", job={**job, "deadline": deadline})[1])
    assert [(r["size"], r["workers"]) for r in runs[2:]] == [(1, 1), (2, 2)]
    assert runs[3]["predicted"]["size"] == 2
    errors = [(r["predicted"]["seconds"] - r["wall_seconds"]) / r["wall_seconds"] for r in runs[2:]]
    print(
        f"\nstatic, history of 2 runs, 30000 rows: {planned['model']}; at 1 and 2 workers,"
        f" (predicted, took) {[(r['predicted']['seconds'], r['wall_seconds']) for r in runs[2:]]}"
        f" s, errors {', '.join(f'{e:+.1%}' for e in errors)}"
    )
    assert all(abs(error) <= 0.20 for error in errors)
    assert leftovers(hosts) == {}
