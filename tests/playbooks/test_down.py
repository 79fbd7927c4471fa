"""down.yml removes what a run left up, whatever keep_stack says."""

import json
import os
import subprocess

from conftest import BIN, REPO, ansible, cluster_file

from classifier import watchdog


def playbook(name, path, state_dir, **env):
    return ansible(
        "ansible-playbook",
        f"playbooks/{name}",
        "-e",
        f"cluster_file={path}",
        cwd=REPO,
        ANSIBLE_CONFIG=REPO / "ansible.cfg",
        BURST_STATE_DIR=state_dir,
        **env,
    )


def test_down_removes_a_local_stack(tmp_path, state_dir):
    path = cluster_file(tmp_path)
    up = tmp_path / "up.yml"
    up.write_text(
        json.dumps(
            [
                {
                    "name": "Up",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {"burst.cluster.config": {"path": str(path)}, "register": "loaded"},
                        {"burst.cluster.stack": {"config": "{{ loaded.config }}"}},
                    ],
                }
            ]
        )
    )
    made = ansible(
        "ansible-playbook",
        up,
        cwd=REPO,
        ANSIBLE_CONFIG=REPO / "ansible.cfg",
        BURST_STATE_DIR=state_dir,
    )
    assert made.returncode == 0, made.stdout
    assert (state_dir / "e2e" / "stack-outputs.json").is_file()

    done = playbook("down.yml", path, state_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "changed=1" in done.stdout
    assert not (state_dir / "e2e" / "stack-outputs.json").exists()


def test_down_on_aws_overrides_keep_stack_and_needs_the_cli(tmp_path, state_dir):
    path = cluster_file(
        tmp_path,
        provider="aws",
        aws={"ssh_cidr": "203.0.113.7/32", "keep_stack": True, "state": "file://pulumi"},
    )
    done = playbook("down.yml", path, state_dir, PATH=f"{BIN}{os.pathsep}/usr/bin:/bin")
    assert done.returncode != 0
    assert "keep_stack is set" not in done.stdout
    assert "the Pulumi CLI is not on PATH: install it" in done.stdout


def test_down_refuses_while_a_run_of_the_cluster_is_going(tmp_path, state_dir):
    running = subprocess.Popen(["sleep", "60"])  # stands for the running run's ansible-playbook
    try:
        (state_dir / "e2e").mkdir(parents=True)
        lock = {"controller": watchdog.controller_id(running.pid), "run_id": "r-running"}
        (state_dir / "e2e" / "run.lock").write_text(json.dumps(lock))
        done = playbook("down.yml", cluster_file(tmp_path), state_dir)
    finally:
        running.kill()
        running.wait()
    assert done.returncode != 0
    assert "cluster 'e2e' is already running: run r-running" in done.stdout
    assert "Destroy the machines" not in done.stdout
    assert json.loads((state_dir / "e2e" / "run.lock").read_text()) == lock
