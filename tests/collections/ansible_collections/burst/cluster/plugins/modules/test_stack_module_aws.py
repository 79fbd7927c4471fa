"""burst.cluster.stack with provider aws, up to the Automation API boundary.

The Pulumi CLI cannot be installed here, so ``pulumi.automation``'s stack functions are
replaced by a recorder that answers as the Automation API does, with its own result types;
its ``up`` runs the inline program the module gives it on Pulumi's mock runtime for the outputs.
A ``pulumi`` file on PATH satisfies the module's check for the CLI; it fails if run.
The stack action makes the cluster's SSH key (see test_stack_action); run without it, as here,
the module takes the key that is there: the ``ssh_key`` fixture makes it with the same library.
"""

from __future__ import annotations

import datetime
import json
import os
import stat
from pathlib import Path

import pulumi
import pytest
from ansible_collections.burst.cluster.plugins.module_utils import stack_outputs
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    load_cluster_file,
)
from ansible_collections.burst.cluster.plugins.modules import stack
from ansible_collections.community.crypto.plugins.modules import openssh_keypair
from module_runner import runner
from pulumi import automation as auto
from pulumi_mocks import RecordingMocks, resolve

KEY_PAIR = "aws:ec2/keyPair:KeyPair"
CLUSTER = """\
name: cloud
provider: aws
size: 3
aws:
  region: eu-west-1
  instance_type: c5.large
  ami: ami-0123456789abcdef0
  ssh_cidr: 203.0.113.7/32
  state: file://pulumi-state
"""


def summary(changes):
    now = datetime.datetime.now(datetime.UTC)
    return auto.UpdateSummary(
        kind="update",
        start_time=now,
        message="",
        environment={},
        config={},
        result="succeeded",
        end_time=now,
        resource_changes=changes,
    )


def run_program(program, stack_name):
    """What an inline ``program`` exports, run on Pulumi's mock runtime, and what it made."""
    mocks = RecordingMocks()
    pulumi.runtime.reset_options()
    pulumi.runtime.set_mocks(mocks, project="burst", stack=stack_name, preview=False)
    try:

        def exports():
            program()
            return pulumi.runtime.get_root_resource().outputs

        return resolve(exports), mocks
    finally:
        pulumi.runtime.reset_options()


class Workspace:
    """Records what the module asks of Pulumi; answers with the Automation API's types."""

    def __init__(self):
        self.calls = []
        self.stacks = set()
        self.fail_with = None
        self.open_fails_with = None

    def create_or_select_stack(self, stack_name, project_name=None, program=None, opts=None):
        self.calls.append(
            ("create_or_select_stack", stack_name, project_name, opts.work_dir, dict(opts.env_vars))
        )
        if self.open_fails_with:
            raise auto.CommandError(auto.CommandResult("", self.open_fails_with, 255))
        self.stacks.add(stack_name)
        return Stack(self, stack_name, program)

    def select_stack(self, stack_name, project_name=None, program=None, opts=None):
        self.calls.append(
            ("select_stack", stack_name, project_name, opts.work_dir, dict(opts.env_vars))
        )
        if stack_name not in self.stacks:
            raise auto.StackNotFoundError(Exception(f"no stack named '{stack_name}' found"))
        return Stack(self, stack_name, program)


class Stack:
    def __init__(self, workspace, name, program):
        self.workspace, self.name, self.program = workspace, name, program

    def _engine(self, operation, on_output):
        self.workspace.calls.append((operation, self.name))
        on_output(f"{operation.capitalize()} (organization/burst/{self.name})")
        if self.workspace.fail_with:
            raise auto.CommandError(auto.CommandResult("", self.workspace.fail_with, 255))

    def up(self, on_output=None, refresh=False, **_):
        assert refresh, "up must refresh first"
        self._engine("up", on_output)
        exported, mocks = run_program(self.program, self.name)
        for resource in mocks.resources:
            if resource.typ == KEY_PAIR:
                self.workspace.calls.append((KEY_PAIR, resource.inputs["publicKey"]))
        outputs = {k: auto.OutputValue(v, False) for k, v in exported.items()}
        return auto.UpResult("", "", summary({auto.OpType.CREATE: 9}), outputs)

    def preview(self, on_output=None, **_):
        self._engine("preview", on_output)
        return auto.PreviewResult("", "", {auto.OpType.CREATE: 9, auto.OpType.SAME: 0})

    def destroy(self, on_output=None, remove=False, **_):
        self._engine("destroy", on_output)
        if remove:
            self.workspace.stacks.discard(self.name)
        return auto.DestroyResult("", "", summary({auto.OpType.DELETE: 9}))


@pytest.fixture
def workspace(monkeypatch):
    recorder = Workspace()
    monkeypatch.setattr(auto, "create_or_select_stack", recorder.create_or_select_stack)
    monkeypatch.setattr(auto, "select_stack", recorder.select_stack)
    return recorder


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """A ``pulumi`` on PATH that fails loudly if the module ever runs it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pulumi = bin_dir / "pulumi"
    pulumi.write_text("#!/bin/sh\necho 'pulumi must not run in this test' >&2\nexit 3\n")
    pulumi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return pulumi


def forget_credentials(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def credentials(monkeypatch, tmp_path):
    forget_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")


@pytest.fixture
def config(tmp_path):
    cluster_file = tmp_path / "cluster.yaml"
    cluster_file.write_text(CLUSTER, encoding="utf-8")
    return load_cluster_file(cluster_file)


@pytest.fixture
def run(monkeypatch):
    module = runner(monkeypatch, stack.main)
    return lambda **args: module(**args)


@pytest.fixture
def state_dir(tmp_path):
    return tmp_path / "state"


@pytest.fixture
def ssh_key(monkeypatch, state_dir):
    """The cluster's key, made with community.crypto.openssh_keypair."""
    private = state_dir / "ssh" / "cloud_ed25519"
    private.parent.mkdir(mode=0o700, parents=True)
    made = runner(monkeypatch, openssh_keypair.main)(
        path=str(private), type="ed25519", comment="burst-cloud", mode="0600"
    )
    assert made["failed"] is False and made["changed"] is True, made
    return private


def operations(workspace):
    return [call[0] for call in workspace.calls if call[0] in ("up", "preview", "destroy")]


def test_present_runs_up_and_writes_the_outputs(
    run, workspace, cli, credentials, config, state_dir, ssh_key
):
    result = run(config=config, state="present", state_dir=str(state_dir))
    assert result["failed"] is False, result
    assert result["changed"] is True
    assert result["changes"] == {"create": 9}
    assert operations(workspace) == ["up"]
    opened = workspace.calls[0]
    assert opened[:4] == ("create_or_select_stack", "cloud", "burst", str(state_dir / "pulumi"))
    env = opened[4]
    assert env["PULUMI_BACKEND_URL"] == "file://" + str(Path(config["base_dir"]) / "pulumi-state")
    assert Path(env["PULUMI_BACKEND_URL"][len("file://") :]).is_dir()

    written = json.loads((state_dir / "stack-outputs.json").read_text(encoding="utf-8"))
    assert result["outputs"] == written
    assert stack_outputs.check(written) is written
    assert [h["role"] for h in written["hosts"]] == [
        "initializer",
        "worker",
        "worker",
        "metrics_host",
    ]
    assert all(h["instance_id"].startswith("i-") and h["public_dns"] for h in written["hosts"])
    assert written["alarm_topic"].startswith("arn:aws:sns:")
    assert written["ssh_key"] == str(ssh_key)
    assert stat.S_IMODE(ssh_key.stat().st_mode) == 0o600
    public_key = Path(f"{ssh_key}.pub").read_text().strip()
    assert public_key.startswith("ssh-ed25519 ") and public_key.endswith(" burst-cloud")
    assert workspace.calls[-1] == (KEY_PAIR, public_key)
    log = Path(result["engine_log"]).read_text()
    assert "--- pulumi up cloud" in log and "Up (organization/burst/cloud)" in log


def test_the_same_key_goes_to_every_up(
    run, workspace, cli, credentials, config, state_dir, ssh_key
):
    run(config=config, state="present", state_dir=str(state_dir))
    first = [c for c in workspace.calls if c[0] == KEY_PAIR]
    run(config=config, state="present", state_dir=str(state_dir))
    second = [c for c in workspace.calls if c[0] == KEY_PAIR]
    assert len(first) == 1 and second == first * 2


def test_a_missing_key_fails_before_pulumi_and_names_the_file(
    run, workspace, cli, credentials, config, state_dir
):
    for check_mode in (False, True):
        result = run(
            check_mode=check_mode, config=config, state="present", state_dir=str(state_dir)
        )
        assert result["failed"] is True
        assert result["msg"] == (
            f"the cluster's SSH public key {state_dir}/ssh/cloud_ed25519.pub is missing:"
            " the burst.cluster.stack action makes it before Pulumi runs"
        )
    assert workspace.calls == []


def test_check_mode_previews_and_writes_nothing(
    run, workspace, cli, credentials, config, state_dir, ssh_key
):
    result = run(check_mode=True, config=config, state="present", state_dir=str(state_dir))
    assert result["failed"] is False, result
    assert operations(workspace) == ["preview"]
    assert result["changes"] == {"create": 9}
    assert result["changed"] is True
    assert [(h["name"], h["role"]) for h in result["outputs"]["hosts"]] == [
        ("cloud-0", "initializer"),
        ("cloud-1", "worker"),
        ("cloud-2", "worker"),
        ("cloud-metrics", "metrics_host"),
    ]
    assert not (state_dir / "stack-outputs.json").exists()


def test_absent_destroys_and_removes_the_stack(
    run, workspace, cli, credentials, config, state_dir, ssh_key
):
    run(config=config, state="present", state_dir=str(state_dir))
    key = Path(json.loads((state_dir / "stack-outputs.json").read_text())["ssh_key"])
    result = run(config=config, state="absent", state_dir=str(state_dir))
    assert result["failed"] is False, result
    assert result["changed"] is True
    assert result["changes"] == {"delete": 9}
    assert operations(workspace) == ["up", "destroy"]
    assert workspace.stacks == set()
    assert not (state_dir / "stack-outputs.json").exists()
    assert not key.exists() and not Path(f"{key}.pub").exists()

    again = run(config=config, state="absent", state_dir=str(state_dir))
    assert again["failed"] is False and again["changed"] is False
    assert operations(workspace) == ["up", "destroy"]


def test_keep_stack_skips_the_destroy(
    run, workspace, cli, credentials, tmp_path, state_dir, ssh_key
):
    cluster_file = tmp_path / "keep.yaml"
    cluster_file.write_text(CLUSTER + "  keep_stack: true\n", encoding="utf-8")
    config = load_cluster_file(cluster_file)
    run(config=config, state="present", state_dir=str(state_dir))
    result = run(config=config, state="absent", state_dir=str(state_dir))
    assert result["failed"] is False and result["changed"] is False
    assert "keep_stack" in result["msg"]
    assert operations(workspace) == ["up"]
    assert (state_dir / "stack-outputs.json").exists()


def test_a_missing_cli_fails_before_pulumi_with_what_to_install(
    run, workspace, credentials, config, state_dir, monkeypatch, tmp_path
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for state in ("present", "absent"):
        result = run(config=config, state=state, state_dir=str(state_dir))
        assert result["failed"] is True
        assert result["msg"].startswith("the Pulumi CLI is not on PATH: install it")
        assert "Traceback" not in result["msg"]
    assert workspace.calls == []


def test_missing_credentials_fail_before_pulumi_with_what_to_set(
    run, workspace, cli, config, state_dir, monkeypatch, tmp_path
):
    forget_credentials(monkeypatch, tmp_path)
    result = run(config=config, state="present", state_dir=str(state_dir))
    assert result["failed"] is True
    assert result["msg"].startswith("no AWS credentials found: set AWS_PROFILE")
    assert workspace.calls == []
    assert not (state_dir / "ssh").exists()


def test_a_failing_engine_names_the_log_and_the_error(
    run, workspace, cli, credentials, config, state_dir, ssh_key
):
    workspace.fail_with = "error: creating EC2 Instance: UnauthorizedOperation: not allowed"
    result = run(config=config, state="present", state_dir=str(state_dir))
    assert result["failed"] is True
    assert result["msg"].startswith("pulumi up failed (engine log: ")
    assert "UnauthorizedOperation: not allowed" in result["msg"]
    assert not (state_dir / "stack-outputs.json").exists()


def test_a_backend_that_cannot_be_opened_is_a_clear_error(
    run, workspace, cli, credentials, config, state_dir, ssh_key
):
    workspace.open_fails_with = "error: read .pulumi/meta.yaml: AccessDenied: Access Denied"
    result = run(config=config, state="present", state_dir=str(state_dir))
    assert result["failed"] is True
    assert result["msg"].startswith("pulumi could not open stack cloud in file://")
    assert "AccessDenied: Access Denied" in result["msg"]
