"""Running site.yml from a test, and the single-process answer to compare it with."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from conftest import BIN, REPO, ansible, ansible_env, cluster_file


def state_env(state_dir):
    """$BURST_STATE_DIR, if the test keeps the state there rather than beside the cluster file."""
    return {"BURST_STATE_DIR": state_dir} if state_dir else {}


def site(path, state_dir, *extra, **env):
    """Run site.yml on cluster file ``path``; ``env`` adds to a clean environment. Without
    ``state_dir`` the state is kept beside the cluster file."""
    return ansible(
        "ansible-playbook",
        "playbooks/site.yml",
        "-e",
        f"cluster_file={path}",
        *extra,
        cwd=REPO,
        timeout=600,
        ANSIBLE_CONFIG=REPO / "ansible.cfg",
        **state_env(state_dir),
        **env,
    )


def run_dir(results):
    (run,) = [path for path in results.iterdir() if path.is_dir()]
    return run


def reference(tmp_path, rows, seed, slowness):
    source, target = tmp_path / "in.csv", tmp_path / "reference.csv"
    with open(source, "wb") as out:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "classifier",
                "generate",
                "--rows",
                str(rows),
                "--seed",
                str(seed),
            ],
            stdout=out,
            check=True,
        )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "classifier",
            "classify",
            source,
            target,
            "--slowness",
            str(slowness),
        ],
        check=True,
    )
    return target


def read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


# A run that lasts long enough to kill one of its components mid-run.
FAULT_ROWS, FAULT_SEED, FAULT_SLOWNESS = 8000, 3, 2000


def start_site(path, state_dir, *extra, **env):
    return subprocess.Popen(
        [str(BIN / "ansible-playbook"), "playbooks/site.yml", "-e", f"cluster_file={path}"]
        + list(extra),
        cwd=REPO,
        env=ansible_env(
            ANSIBLE_CONFIG=REPO / "ansible.cfg",
            **state_env(state_dir),
            **env,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_group(pid):
    os.killpg(os.getpgid(pid), signal.SIGKILL)


def freeze_worker(pid):
    """SIGSTOP the Dask worker process that the nanny ``pid`` runs (its child)."""
    threads = Path(f"/proc/{pid}/task").iterdir()
    for child in [c for thread in threads for c in (thread / "children").read_text().split()]:
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
            os.kill(int(child), signal.SIGSTOP)
            return
    raise AssertionError(f"no worker process under the nanny {pid}")


def fault_when_rows_flow(workdirs, host, component, fault=kill_group, deadline=240):
    """``fault(pid)`` (SIGKILL its process group) on ``component`` on ``host`` once the
    receiver has rows out; the rows out then.

    ``workdirs`` holds each host's work directory; every host shares this file system
    and process table, whether it is this machine or a network namespace.
    """
    runs = workdirs / host / "runs"
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        for progress in workdirs.glob("*/runs/*/results/progress.json"):
            try:
                rows_out = json.loads(progress.read_text()).get("rows_out", 0)
            except (OSError, ValueError):
                continue
            pidfiles = list(runs.glob(f"*/{component}.pid"))
            if rows_out >= 400 and pidfiles:
                fault(int(pidfiles[0].read_text()))
                return rows_out
        time.sleep(0.05)
    raise AssertionError(f"no rows flowed within {deadline} s")


def run_with_fault(tmp_path, state_dir, host, component, workdirs=None, *extra, **env):
    """Run site.yml on a local cluster file (or a static one: ``extra``, ``env`` and its
    ``workdirs``), with ``fault`` (default: SIGKILL) on ``component`` on ``host`` mid-run;
    return (status, output)."""
    fault = env.pop("fault", kill_group)
    config = {
        "source": {"kind": "synthetic", "rows": FAULT_ROWS, "seed": FAULT_SEED},
        "job": {
            "slowness": FAULT_SLOWNESS,
            "batch_rows": 100,
            "timeout": 120,
            **env.pop("job", {}),
        },
        **env.pop("overrides", {}),
    }
    path = cluster_file(tmp_path, **config)
    site = start_site(path, state_dir, *extra, **env)
    try:
        rows_out = fault_when_rows_flow(
            workdirs or state_dir / "e2e" / "hosts", host, component, fault
        )
        output, _ = site.communicate(timeout=300)
    finally:
        if site.poll() is None:
            site.kill()
            site.wait()
    assert rows_out < config["source"]["rows"], "the fault came after the last row"
    return site.returncode, output


def interleaved(points: dict, rounds: int = 2) -> dict:
    """``rounds`` runs of each point, the points taking turns: ``points`` maps a name to a
    function making run ``attempt`` of it. A slow minute of this shared machine then falls on
    a model's calibration runs and on the runs it predicts alike."""
    made = {name: [] for name in points}
    for attempt in range(1, rounds + 1):
        for name, make in points.items():
            made[name].append(make(attempt))
    return made


def fastest(points: dict, made: dict, too_slow) -> dict:
    """The runs ``made`` of each of ``points``, the fastest first; a point whose runs
    ``too_slow(name, manifest)`` all calls disturbed is run once more."""
    for name, make in points.items():
        if all(too_slow(name, manifest) for manifest in made[name]):
            made[name].append(make(len(made[name]) + 1))
    return {
        name: sorted(made[name], key=lambda manifest: manifest["wall_seconds"]) for name in points
    }
