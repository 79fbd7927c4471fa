"""site.yml across three hosts over real SSH (provider static): network namespaces on a bridge.

Host 0 is the initializer (scheduler, source, a worker), host 1 a worker, host 2 the metrics
host (sender, receiver). The install role gives each its own virtual environment from a
wheelhouse the controller builds, since the hosts have no route to a package index.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BIN, REPO, processes_with_env
from netns_hosts import netns_hosts
from site_runs import cluster_file, read, reference, run_dir, site

ROWS, SEED, SLOWNESS = 3000, 8, 200


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


def test_three_hosts_over_ssh_give_the_single_process_answer(tmp_path, state_dir, wheelhouse):
    with netns_hosts(3, tmp_path) as hosts:
        path = cluster_file(
            tmp_path,
            provider="static",
            size=2,
            workers_per_host=1,
            static={
                "hosts": hosts.addresses,
                "user": hosts.user,
                "ssh_key": str(hosts.ssh_key),
                "workdir": str(tmp_path / "hosts"),
            },
            source={"kind": "synthetic", "rows": ROWS, "seed": SEED},
            job={"slowness": SLOWNESS, "batch_rows": 100, "timeout": 300},
        )
        pip_args = ["--no-index", "--find-links", str(wheelhouse)]
        result = site(
            path,
            state_dir,
            "-e",
            json.dumps({"install_pip_extra_args": pip_args}),
            ANSIBLE_PYTHON_INTERPRETER=hosts.ansible_env["ANSIBLE_PYTHON_INTERPRETER"],
        )
        leftovers = {ns: run_processes(ns) for ns in hosts.namespaces}
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
    assert f"{ROWS}/{ROWS} (100 %) rows" in result.stdout

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
    for host in ("e2e-0", "e2e-1", "e2e-metrics"):
        assert (tmp_path / "hosts" / "e2e" / host / "app" / "venv" / "bin" / "python").exists()
    assert leftovers == {ns: [] for ns in hosts.namespaces}
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
    assert not (state_dir / "stack-outputs.json").exists()
