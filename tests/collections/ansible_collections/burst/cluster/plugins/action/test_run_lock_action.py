"""burst.cluster.run_lock through real ansible-playbook runs against localhost.

"Another run" is a lock file naming a live process this test starts (a ``sleep``), or, for a
race, a second ansible-playbook started at the same time.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BIN, REPO, ansible_env

from classifier import watchdog

pytestmark = pytest.mark.slow

RUN_ID = "20261121T101500Z-ab12"
MESSAGE = (
    "cluster 'demo' is already running: run 20261121T101500Z-ab12, started 2026-11-21 10:15:00"
    " UTC by ansible-playbook (pid {pid}); wait for it to finish or stop it (Ctrl-C), then try"
    " again"
)


def playbook(tmp_path: Path, steps: list[dict], hold: float = 0, name: str = "lock") -> Path:
    """A play that runs burst.cluster.run_lock once per step (failures kept), optionally waits
    ``hold`` s, and writes every result to ``<name>.json`` (in check mode too)."""
    tasks = [
        {
            "name": f"Lock {index}",
            "burst.cluster.run_lock": args,
            "register": f"lock_{index}",
            "ignore_errors": True,
        }
        for index, args in enumerate(steps)
    ]
    if hold:
        tasks.insert(1, {"name": "Hold the lock", "ansible.builtin.wait_for": {"timeout": hold}})
    results = ", ".join(f"lock_{index}" for index in range(len(steps)))
    tasks.append(
        {
            "name": "Keep the results",
            "ansible.builtin.copy": {
                "content": f"{{{{ [{results}] | to_json }}}}",
                "dest": str(tmp_path / f"{name}.json"),
                "mode": "0644",
            },
            "check_mode": False,
        }
    )
    play = [{"name": "Run lock", "hosts": "all", "gather_facts": False, "tasks": tasks}]
    path = tmp_path / f"{name}.yml"
    path.write_text(json.dumps(play, indent=2), encoding="utf-8")  # JSON is YAML
    return path


class Runs:
    """ansible-playbook runs and other processes of a test, killed by pid at the end."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.started: list[subprocess.Popen] = []

    def start(self, play: Path, check: bool = False) -> subprocess.Popen:
        config = self.tmp_path / "ansible.cfg"
        config.write_text("[defaults]\nretry_files_enabled = False\n", encoding="utf-8")
        command = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local"]
        command += ["-e", f"ansible_python_interpreter={sys.executable}", str(play)]
        process = subprocess.Popen(
            command + (["--check"] if check else []),
            cwd=self.tmp_path,
            env=ansible_env(
                ANSIBLE_CONFIG=config,
                ANSIBLE_COLLECTIONS_PATH=REPO / "collections",
                ANSIBLE_LOCAL_TEMP=self.tmp_path / "ansible-local",
                BURST_STATE_DIR=self.tmp_path / "state",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.started.append(process)
        return process

    def finish(self, process: subprocess.Popen, play: Path) -> tuple[list[dict], str]:
        """The results of ``play`` run by ``process``, and its output."""
        output = process.communicate(timeout=90)[0]
        assert process.returncode == 0, output
        return json.loads(play.with_suffix(".json").read_text()), output

    def run(self, steps: list[dict], check: bool = False) -> tuple[list[dict], int]:
        """Run the steps; their results and the pid of the ansible-playbook that ran them."""
        play = playbook(self.tmp_path, steps)
        process = self.start(play, check)
        return self.finish(process, play)[0], process.pid

    def other_controller(self) -> subprocess.Popen:
        process = subprocess.Popen(["sleep", "60"])
        self.started.append(process)
        return process

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.communicate()


@pytest.fixture
def runs(tmp_path):
    started = Runs(tmp_path)
    try:
        yield started
    finally:
        started.stop()


def write_lock(path: Path, controller: str, run_id: str = RUN_ID) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = {
        "controller": controller,
        "run_id": run_id,
        "cluster": "demo",
        "started_at": "2026-11-21T10:15:00Z",
    }
    text = json.dumps(lock)
    path.write_text(text, encoding="utf-8")
    return text


def gone_controller() -> str:
    """The id of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    controller = watchdog.controller_id(process.pid)
    process.wait()
    return controller


def test_the_lock_names_the_ansible_playbook_process_and_the_run(runs, tmp_path):
    lock = tmp_path / "locks" / "nested" / "demo.lock"
    (taken,), pid = runs.run([{"path": str(lock), "run_id": "r1", "cluster": "demo"}])
    assert not taken.get("failed"), taken
    assert taken["changed"] and "stale" not in taken
    # the action plugin's parent is the ansible-playbook process itself
    assert re.fullmatch(rf"{pid}@\d+\.\d\d", taken["controller"]), taken
    written = json.loads(lock.read_text())
    assert written["controller"] == taken["controller"]
    assert written["run_id"] == "r1" and written["cluster"] == "demo"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", written["started_at"])
    assert taken["path"] == str(lock)


def test_take_again_then_give_back_in_one_run(runs, tmp_path):
    config = {"name": "demo", "base_dir": str(tmp_path / "files")}  # as the loader gives it
    args = {"config": config, "run_id": "r1"}
    lock = tmp_path / "state" / "demo" / "run.lock"  # the default: $BURST_STATE_DIR/<name>/run.lock
    (first, again, released, after), _ = runs.run(
        [args, args, {"config": config, "state": "absent"}, {"config": config, "state": "absent"}]
    )
    assert first["changed"] and first["path"] == str(lock)
    assert not again["changed"] and again["msg"] == "this run holds the lock"
    assert released["changed"] and released["run_id"] == "r1"
    assert not after["changed"] and after["msg"] == "no lock"
    assert not lock.exists()


@pytest.mark.parametrize("check", [False, True], ids=["run", "check mode"])
def test_a_running_run_refuses_a_second_one_and_keeps_its_lock(runs, tmp_path, check):
    other = runs.other_controller()
    lock = tmp_path / "demo.lock"
    text = write_lock(lock, watchdog.controller_id(other.pid))
    (refused, left), _ = runs.run(
        [
            {"path": str(lock), "run_id": "r2", "cluster": "demo"},
            {"path": str(lock), "state": "absent"},
        ],
        check,
    )
    assert refused["failed"]
    assert refused["msg"] == MESSAGE.format(pid=other.pid)
    assert refused["run_id"] == RUN_ID
    assert not left.get("failed") and not left["changed"]
    assert left["msg"] == (
        f"the lock belongs to run {RUN_ID} (pid {other.pid}), not to this one; left in place"
    )
    assert lock.read_text() == text


def test_two_runs_started_together_one_gets_the_lock(runs, tmp_path):
    lock = str(tmp_path / "demo.lock")
    plays = [
        playbook(
            tmp_path,
            [{"path": lock, "run_id": f"r{index}", "cluster": "demo"}],
            hold=4,
            name=f"run{index}",
        )
        for index in range(2)
    ]
    processes = [runs.start(play) for play in plays]
    results = [
        runs.finish(process, play)[0][0] for process, play in zip(processes, plays, strict=True)
    ]
    assert sorted(bool(result.get("failed")) for result in results) == [False, True], results
    refused = next(result for result in results if result.get("failed"))
    assert refused["msg"].startswith("cluster 'demo' is already running: run r"), refused


def test_a_stale_lock_is_taken_over(runs, tmp_path):
    lock = tmp_path / "demo.lock"
    write_lock(lock, gone_controller(), run_id="20261121T093000Z-x7k2")
    (taken,), pid = runs.run([{"path": str(lock), "run_id": "r3", "cluster": "demo"}])
    assert not taken.get("failed"), taken
    assert taken["changed"] and taken["stale"] == "20261121T093000Z-x7k2"
    written = json.loads(lock.read_text())
    assert written["run_id"] == "r3" and written["controller"].startswith(f"{pid}@")


def test_check_mode_writes_nothing(runs, tmp_path):
    fresh = tmp_path / "new" / "demo.lock"
    stale = tmp_path / "demo.lock"
    text = write_lock(stale, gone_controller())
    (would_take, would_take_over, released, left), _ = runs.run(
        [
            {"path": str(fresh), "run_id": "r4", "cluster": "demo"},
            {"path": str(stale), "run_id": "r4", "cluster": "demo"},
            {"path": str(fresh), "state": "absent"},
            {"path": str(stale), "state": "absent"},
        ],
        check=True,
    )
    assert would_take["changed"] and not would_take.get("failed")
    assert would_take["msg"] == f"would take the lock {fresh}"
    assert not fresh.parent.exists()
    assert would_take_over["changed"] and would_take_over["stale"] == RUN_ID
    assert not released["changed"] and released["msg"] == "no lock"
    assert not left["changed"] and "left in place" in left["msg"]
    assert stale.read_text() == text


def test_a_file_that_is_not_a_lock_and_a_missing_run_id_are_reported(runs, tmp_path):
    lock = tmp_path / "demo.lock"
    lock.write_text("not json", encoding="utf-8")
    (refused, left, no_run_id), _ = runs.run(
        [
            {"path": str(lock), "run_id": "r7"},
            {"path": str(lock), "state": "absent"},
            {"path": str(tmp_path / "other.lock")},
        ]
    )
    assert refused["failed"]
    assert refused["msg"].startswith(f"{lock} is not a burst run lock (")
    assert refused["msg"].endswith("); remove it if no run is going")
    assert not left["changed"] and lock.read_text() == "not json"
    assert no_run_id["failed"] and "run_id" in no_run_id["msg"], no_run_id
