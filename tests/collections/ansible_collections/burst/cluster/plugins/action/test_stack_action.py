"""burst.cluster.stack through a real ansible-playbook run: what it checks before Pulumi runs.

The module runs packaged by Ansible, as in site.yml. Without a Pulumi CLI on PATH any
call into Pulumi would fail with the CLI message, so a loader message proves the config
was checked first, and the credential message proves the CLI check passed. With a CLI that
only knows its version, Pulumi fails at opening the stack, after the action made the key.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, REPO, ansible

pytestmark = pytest.mark.slow

CLUSTER = """\
name: cloud
provider: aws
aws:
  region: eu-west-1
  ssh_cidr: 203.0.113.7/32
  state: file://pulumi-state
"""


def run_stack(
    tmp_path: Path,
    path: str,
    tamper: dict | None = None,
    state: str = "present",
    check: bool = False,
    **env,
):
    """Load ``cluster.yaml`` with burst.cluster.config, change it with ``tamper``, run stack."""
    (tmp_path / "cluster.yaml").write_text(CLUSTER, encoding="utf-8")
    tasks = [
        {
            "name": "Load",
            "burst.cluster.config": {"path": str(tmp_path / "cluster.yaml")},
            "register": "loaded",
        },
        {
            "name": "Stack",
            "burst.cluster.stack": {
                "config": "{{ loaded.config | combine(tamper, recursive=True) }}",
                "state": state,
            },
            "vars": {"tamper": tamper or {}},
        },
    ]
    play = [{"name": "Stack", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    playbook = tmp_path / "stack.yml"
    playbook.write_text(json.dumps(play), encoding="utf-8")
    return ansible(
        "ansible-playbook",
        playbook,
        *(["--check"] if check else []),
        cwd=tmp_path,
        ANSIBLE_CONFIG=REPO / "ansible.cfg",
        BURST_STATE_DIR=tmp_path / "state",
        PATH=path,
        AWS_SHARED_CREDENTIALS_FILE=tmp_path / "no-credentials",
        AWS_CONFIG_FILE=tmp_path / "no-config",
        AWS_EC2_METADATA_DISABLED="true",
        **env,
    )


@pytest.fixture(autouse=True)
def no_aws_settings(monkeypatch):
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)


def fake_cli(tmp_path: Path, version: str | None = None) -> str:
    """A PATH with a ``pulumi`` that fails if run (but says ``version``), and the venv's tools."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pulumi = bin_dir / "pulumi"
    says = f'[ "$1" = version ] && echo {version} && exit 0\n' if version else ""
    pulumi.write_text(f"#!/bin/sh\n{says}echo 'pulumi must not run in this test' >&2\nexit 3\n")
    pulumi.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{BIN}{os.pathsep}/usr/bin:/bin"


def test_an_invalid_config_fails_with_the_loader_message_before_pulumi(tmp_path):
    done = run_stack(
        tmp_path, f"{BIN}{os.pathsep}/usr/bin:/bin", {"aws": {"ssh_cidr": "0.0.0.0/0"}}
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "aws.ssh_cidr: '0.0.0.0/0' — must not be open to the world" in output
    assert "Pulumi CLI" not in output
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("state", ["present", "absent"])
def test_a_missing_cli_says_what_to_install(tmp_path, state):
    done = run_stack(tmp_path, f"{BIN}{os.pathsep}/usr/bin:/bin", state=state)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "the Pulumi CLI is not on PATH: install it" in output
    assert "Traceback" not in output


def test_missing_credentials_say_what_to_set(tmp_path):
    done = run_stack(tmp_path, fake_cli(tmp_path))
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "no AWS credentials found: set AWS_PROFILE" in output
    assert "pulumi must not run" not in output
    assert not list((tmp_path / "state").glob("*/ssh"))


@pytest.mark.parametrize("check", [True, False], ids=["preview", "up"])
def test_the_key_is_made_with_openssh_keypair_before_pulumi_and_kept(tmp_path, check):
    credentials = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
    path = fake_cli(tmp_path, "v3.200.0")
    done = run_stack(tmp_path, path, check=check, **credentials)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "pulumi could not open stack cloud" in output
    assert "pulumi must not run in this test" in output
    private = tmp_path / "state" / "cloud" / "ssh" / "cloud_ed25519"
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    public = Path(f"{private}.pub").read_text().split()
    assert public[0] == "ssh-ed25519" and public[2] == "burst-cloud"
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", private], capture_output=True, text=True, check=True
    )
    assert derived.stdout.split()[:2] == public[:2]

    again = run_stack(tmp_path, path, check=check, **credentials)
    assert "pulumi could not open stack cloud" in again.stdout + again.stderr
    assert Path(f"{private}.pub").read_text().split() == public
