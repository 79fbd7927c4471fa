"""Action plugin of burst.cluster.run_lock: one run of a cluster at a time, and which process
is the controller of this one.

The controller is the ``ansible-playbook`` process. Action plugins run in a worker process that
ansible-playbook forks for the task (ansible.utils.multiprocessing uses the ``fork`` context), so
the controller is this process's parent, ``os.getppid()``; the tests check it against the pid of
the ansible-playbook they start.

The controller's id, ``PID@CREATE_TIME``, and the test of whether it still runs come from
``classifier.watchdog``, which reads the same id on the cluster's hosts: one definition for the
writer and the reader. The collection's module_utils could not serve both, as the hosts have the
app but not the collection; the controller has both (``pip install -e .[controller]``).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import tempfile

from ansible_collections.burst.cluster.plugins.module_utils import stack_outputs
from ansible_collections.burst.cluster.plugins.modules.run_lock import (
    ARGUMENT_SPEC,
    REQUIRED_IF,
    REQUIRED_ONE_OF,
)
from ansible_collections.burst.cluster.plugins.plugin_utils.controller_action import (
    ControllerAction,
)

from classifier import watchdog


class LockError(Exception):
    """The lock file exists but is not one this plugin wrote."""


@contextlib.contextmanager
def _guard(directory: str):
    """Hold an exclusive flock on ``directory`` while the lock is read and written, so that two
    runs starting together cannot both find it free (or both take over the same stale one)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _read(path: str) -> dict | None:
    """The lock in ``path``, None if there is none."""
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        return None
    try:
        lock = json.loads(text)
        lock["pid"], lock["create_time"] = watchdog.parse_controller(lock["controller"])
    except (ValueError, TypeError, KeyError) as error:
        raise LockError(
            f"{path} is not a burst run lock ({error}); remove it if no run is going"
        ) from None
    return lock


def _write(path: str, lock: dict) -> None:
    """Write ``lock`` to a temporary file and rename it into place: never seen half written."""
    fd, partial = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".run-lock-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(lock, stream, indent=2)
            stream.write("\n")
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)
        raise


def _same(lock: dict, controller: str) -> bool:
    return watchdog.same((lock["pid"], lock["create_time"]), watchdog.parse_controller(controller))


def _started(lock: dict) -> str:
    try:
        when = datetime.datetime.fromisoformat(lock["started_at"])
    except (KeyError, TypeError, ValueError):
        return "at an unknown time"
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def running_message(name: str, lock: dict) -> str:
    return (
        f"cluster '{name}' is already running: run {lock.get('run_id', '?')},"
        f" started {_started(lock)} by ansible-playbook (pid {lock['pid']});"
        " wait for it to finish or stop it (Ctrl-C), then try again"
    )


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    SPEC_RULES = dict(required_one_of=REQUIRED_ONE_OF, required_if=REQUIRED_IF)
    _supports_check_mode = True

    def act(self, args, result):
        config = args["config"] or {}
        path = args["path"] or os.path.join(stack_outputs.state_dir(config), "run.lock")
        path = os.path.abspath(path)
        name = args["cluster"] or config.get("name") or os.path.splitext(os.path.basename(path))[0]
        controller = watchdog.controller_id(os.getppid())
        result.update(path=path, controller=controller, changed=False)
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            if args["state"] == "absent":
                return dict(result, msg="no lock")
            if self._task.check_mode:
                return dict(result, changed=True, msg=f"would take the lock {path}")
            os.makedirs(directory, exist_ok=True)
        try:
            with _guard(directory):
                if args["state"] == "present":
                    return self._take(result, path, name, args["run_id"], controller)
                return self._release(result, path, controller)
        except (LockError, OSError) as error:
            return dict(result, failed=True, msg=str(error))

    def _take(self, result: dict, path: str, name: str, run_id: str, controller: str) -> dict:
        lock = _read(path)
        if lock is not None and _same(lock, controller):
            return dict(result, run_id=lock.get("run_id"), msg="this run holds the lock")
        if lock is not None and watchdog.running(lock["pid"], lock["create_time"]):
            return dict(
                result, failed=True, run_id=lock.get("run_id"), msg=running_message(name, lock)
            )
        if lock is not None:
            # its controller is gone (killed, or the machine restarted): the run was interrupted
            result["stale"] = str(lock.get("run_id", "?"))
        result.update(changed=True, run_id=run_id)
        if self._task.check_mode:
            return dict(result, msg=f"would take the lock {path}")
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        started_at = now.isoformat().replace("+00:00", "Z")
        _write(
            path,
            {"controller": controller, "run_id": run_id, "cluster": name, "started_at": started_at},
        )
        return dict(result, msg=f"took the lock {path}")

    def _release(self, result: dict, path: str, controller: str) -> dict:
        try:
            lock = _read(path)
        except LockError as error:  # not ours to remove; the next run says what to do
            return dict(result, msg=f"left in place: {error}")
        if lock is None:
            return dict(result, msg="no lock")
        result["run_id"] = lock.get("run_id")
        if not _same(lock, controller):
            return dict(
                result,
                msg=f"the lock belongs to run {lock.get('run_id', '?')} (pid {lock['pid']}),"
                " not to this one; left in place",
            )
        if not self._task.check_mode:
            os.remove(path)
        return dict(result, changed=True, msg=f"removed the lock {path}")
