"""Drive the Pulumi program in infra/ through the Automation API (pulumi.automation).

The Pulumi CLI does the work; this module checks that it and AWS credentials are there
before anything starts, keeps the per-cluster SSH key, streams the engine's output to a
log file and turns the program's outputs into the stack outputs contract.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

PUBLIC_KEY_CONFIG = "burst:sshPublicKey"
INSTALL_CLI = (
    "the Pulumi CLI is not on PATH: install it (https://www.pulumi.com/docs/install/,"
    " e.g. `curl -fsSL https://get.pulumi.com | sh`) and run again"
)
SET_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and"
    " AWS_SECRET_ACCESS_KEY, or run where a role provides them"
    " (in GitHub Actions: aws-actions/configure-aws-credentials)"
)


class StackError(Exception):
    """Pulumi could not be run or failed; the message says what to do."""


def preflight(region: str) -> None:
    """Fail at once, before Pulumi runs, when the CLI or AWS credentials are missing."""
    if shutil.which("pulumi") is None:
        raise StackError(INSTALL_CLI)
    import boto3

    if boto3.session.Session(region_name=region).get_credentials() is None:
        raise StackError(SET_CREDENTIALS)


def key_paths(state_dir: str, cluster: str) -> tuple[str, str]:
    private = os.path.join(state_dir, "ssh", f"{cluster}_ed25519")
    return private, private + ".pub"


def ensure_ssh_key(state_dir: str, cluster: str) -> str:
    """The cluster's OpenSSH public key, made with its private key (mode 0600) if missing."""
    private, public = key_paths(state_dir, cluster)
    if not (os.path.exists(private) and os.path.exists(public)):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        os.makedirs(os.path.dirname(private), mode=0o700, exist_ok=True)
        for path in (private, public):
            if os.path.exists(path):
                os.remove(path)
        descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.OpenSSH,
                    serialization.NoEncryption(),
                )
            )
        openssh = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        Path(public).write_bytes(openssh + f" burst-{cluster}\n".encode())
    return Path(public).read_text(encoding="utf-8").strip()


def workspace_env(config: dict) -> dict[str, str]:
    """What the Pulumi CLI and the program in infra/ read from the environment."""
    state = config["aws"]["state"]
    if state.startswith("file://"):
        os.makedirs(state[len("file://") :], exist_ok=True)
    return {
        "BURST_CLUSTER_FILE": config["cluster_file"],
        "BURST_SIZE": str(config["size"]),  # the size to make, when the file says size: auto
        "PULUMI_BACKEND_URL": state,
        # burst keeps no secrets in stack config; an empty passphrase is Pulumi's documented
        # way to use the passphrase provider without a prompt.
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", ""),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }


class EngineLog:
    """Appends the engine's output, line by line as it comes, to ``path``."""

    def __init__(self, path: str, operation: str, stack: str):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self.tail: list[str] = []
        self._stream = open(path, "a", encoding="utf-8")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._stream.write(f"--- pulumi {operation} {stack} {stamp}\n")

    def __call__(self, line: str) -> None:
        self._stream.write(line if line.endswith("\n") else line + "\n")
        self._stream.flush()
        self.tail = (self.tail + [line.rstrip("\n")])[-20:]

    def close(self) -> None:
        self._stream.close()


def _run(operation, log: EngineLog, **kwargs):
    from pulumi import automation as auto

    try:
        return operation(on_output=log, color="never", **kwargs)
    except auto.CommandError as error:
        raise StackError(
            f"pulumi {operation.__name__} failed (engine log: {log.path}):\n" + _last_lines(error)
        ) from None
    finally:
        log.close()


def _last_lines(error, count: int = 8) -> str:
    return "\n".join([line for line in str(error).splitlines() if line.strip()][-count:])


def counts(changes) -> dict[str, int]:
    """{"create": 3, ...} from the engine's {OpType: count}, without the zeros."""
    return {getattr(op, "value", op): n for op, n in (changes or {}).items() if n}


class ClusterStack:
    """The cluster's stack: the program in ``infra_dir``, named after the cluster."""

    def __init__(self, config: dict, state_dir: str, infra_dir: str):
        self.config, self.state_dir, self.infra_dir = config, state_dir, infra_dir
        self.name = config["name"]
        self.log_path = os.path.join(state_dir, "logs", "pulumi.log")

    def _open(self, create: bool):
        from pulumi import automation as auto

        try:
            return self._open_stack(auto, create)
        except auto.ConcurrentUpdateError:
            raise StackError(
                f"stack {self.name} is locked by another pulumi operation; if none is running,"
                f" remove the lock with `pulumi cancel` (service backend) or delete the"
                f" .pulumi/locks/ entry of the stack in {self.config['aws']['state']}"
            ) from None
        except auto.CommandError as error:
            raise StackError(
                f"pulumi could not open stack {self.name} in {self.config['aws']['state']}:\n"
                + _last_lines(error)
            ) from None

    def _open_stack(self, auto, create: bool):
        options = auto.LocalWorkspaceOptions(
            work_dir=self.infra_dir, env_vars=workspace_env(self.config)
        )
        if create:
            stack = auto.create_or_select_stack(
                stack_name=self.name, work_dir=self.infra_dir, opts=options
            )
            public_key = ensure_ssh_key(self.state_dir, self.name)
            stack.set_config(PUBLIC_KEY_CONFIG, auto.ConfigValue(value=public_key))
            return stack
        try:
            return auto.select_stack(stack_name=self.name, work_dir=self.infra_dir, opts=options)
        except auto.StackNotFoundError:
            return None

    def up(self) -> tuple[dict, dict[str, int]]:
        """Create or update the stack; return the program's outputs and the change counts."""
        stack = self._open(create=True)
        # refresh: machines that ended themselves at max_lifetime are not reused
        result = _run(stack.up, EngineLog(self.log_path, "up", self.name), refresh=True)
        outputs = {name: output.value for name, output in result.outputs.items()}
        outputs["ssh_key"] = key_paths(self.state_dir, self.name)[0]
        return outputs, counts(result.summary.resource_changes)

    def preview(self) -> dict[str, int]:
        """What ``up`` would change, as counts per operation."""
        stack = self._open(create=True)
        result = _run(stack.preview, EngineLog(self.log_path, "preview", self.name), refresh=True)
        return counts(result.change_summary)

    def destroy(self) -> dict[str, int] | None:
        """Destroy every resource and remove the stack; None when there was no stack."""
        stack = self._open(create=False)
        if stack is None:
            return None
        log = EngineLog(self.log_path, "destroy", self.name)
        result = _run(stack.destroy, log, refresh=True, remove=True)
        for path in key_paths(self.state_dir, self.name):
            if os.path.exists(path):
                os.remove(path)
        return counts(result.summary.resource_changes)
