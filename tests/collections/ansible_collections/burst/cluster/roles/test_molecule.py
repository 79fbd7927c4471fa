"""Each role's molecule scenario passes on this machine and leaves no process behind.

`molecule test` runs in the role's directory with the default driver against this
machine (connection local): create, prepare, converge, idempotence, verify, cleanup,
destroy. Every process the scenario starts inherits a marker in its environment, so the
test sees them while the scenario runs and finds any that outlive it.
"""

import os
import signal
import threading

import pytest
from conftest import BIN, REPO, ansible, processes_with_env

pytestmark = pytest.mark.slow

ROLES = REPO / "collections" / "ansible_collections" / "burst" / "cluster" / "roles"
# Role, and whether its scenario starts long-running processes.
SCENARIOS = [
    ("install", False),
    ("receiver", True),
    ("scheduler", True),
    ("worker", True),
    ("sender", True),
]


@pytest.mark.parametrize(("role", "starts_processes"), SCENARIOS)
def test_molecule_scenario_passes_and_leaves_nothing(role, starts_processes, tmp_path):
    marker = f"BURST_MOLECULE_TEST={tmp_path}"
    seen, done = {}, threading.Event()

    def watch():
        while not done.wait(0.5):
            seen.update(
                (pid, command)
                for pid, command in processes_with_env(marker)
                if " -m classifier " in command
            )

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = ansible(
            "molecule",
            "test",
            "--scenario-name",
            "default",
            cwd=ROLES / role,
            timeout=540,
            # molecule runs ansible-playbook and ansible-galaxy from PATH.
            PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
            MOLECULE_EPHEMERAL_DIRECTORY=tmp_path / "ephemeral",
            ANSIBLE_HOME=tmp_path / "ansible-home",
            ANSIBLE_LOCAL_TEMP=tmp_path / "ansible-tmp",
            ANSIBLE_REMOTE_TEMP=tmp_path / "ansible-tmp",
            NO_COLOR=1,
            BURST_MOLECULE_TEST=tmp_path,
        )
    finally:
        done.set()
        watcher.join()
        left = processes_with_env(marker)
        for pid, _ in left:  # so that a failure here does not spoil the next scenario
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for action in ("converge", "idempotence", "verify", "destroy"):
        assert f"{action}: Executed: Successful" in output, action
    if starts_processes:
        assert seen, "the scenario started no app process with the marker"
    assert not left, left
