#!/usr/bin/python
"""burst.cluster.service: start or stop one of a run's processes, tracked by a pid file."""

from __future__ import annotations

DOCUMENTATION = r"""
module: service
short_description: Start or stop one process of a burst run
description:
  - Starts a command in its own session, detached from Ansible, with its output in a log
    file and its pid in a pid file; stops it by signalling its whole process group
    (SIGTERM, then SIGKILL after I(stop_timeout)), so children such as Dask's nanny and
    worker go with it.
  - Starting is idempotent; a process already running from the same pid file is left alone.
  - With I(ready_port) the start waits until the port accepts connections, and fails with
    the end of the log if the process exits first.
version_added: 0.1.0
author: burst (!UNKNOWN)
options:
  name:
    description: What the process is, for messages (C(scheduler), C(worker-0), ...).
    type: str
    required: true
  argv:
    description:
      - The command and its arguments. Required when I(state=started), unless the process
        is already running (to wait for I(ready_port) of a process started earlier).
    type: list
    elements: str
  pidfile:
    description: Where the pid is kept. Required unless I(pidfiles) is given.
    type: path
  pidfiles:
    description:
      - With I(state=stopped), instead of I(pidfile), the pid files (or glob patterns) of
        several processes to stop together; SIGTERM goes to all of them at once.
    type: list
    elements: str
  log:
    description:
      - Where stdout and stderr go. Defaults to C(logs/NAME.log) beside the pid file
        C(NAME.pid), so that one directory holds a host's logs.
    type: path
  env:
    description: Variables added to the environment.
    type: dict
    default: {}
  chdir:
    description: Working directory of the process.
    type: path
  state:
    description: C(started) or C(stopped).
    type: str
    choices: [started, stopped]
    default: started
  creates:
    description: If this path exists the process has already done its work; do not start it.
    type: path
  ready_port:
    description:
      - Wait until the process (or another of its process group) listens on this TCP port;
        another program on the port does not count. The check reads the kernel's socket
        table and the process's file descriptors instead of connecting, so the process never
        sees a probe connection.
    type: int
  ready_timeout:
    description: Seconds to wait for I(ready_port).
    type: float
    default: 60
  stop_timeout:
    description: Seconds between SIGTERM and SIGKILL.
    type: float
    default: 10
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Start the Dask scheduler
  burst.cluster.service:
    name: scheduler
    argv: ["{{ burst_python }}", -m, classifier, scheduler, --port, "8786"]
    pidfile: /tmp/run/scheduler.pid
    ready_port: 8786

- name: Stop it
  burst.cluster.service:
    name: scheduler
    pidfile: /tmp/run/scheduler.pid
    state: stopped

- name: Stop every process of the run on this host
  burst.cluster.service:
    name: the run's processes
    pidfiles: [/tmp/run/*.pid]
    state: stopped
"""

RETURN = r"""
pid:
  description: The process id (started), or the one stopped.
  returned: when there is one
  type: int
pids:
  description: With I(state=stopped), the process groups that were running and were stopped.
  returned: when stopping
  type: list
  elements: int
log:
  description: The log file.
  returned: with I(pidfile)
  type: str
"""

import contextlib
import glob
import os
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.burst.cluster.plugins.module_utils import processes


def _tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            return "".join(stream.readlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _wait_ready(module, pid, log):
    params = module.params
    deadline = time.monotonic() + params["ready_timeout"]
    port = params["ready_port"]
    while not processes.listening(port, pid):
        if not processes.alive(pid):
            module.fail_json(
                msg=f"{params['name']} exited before listening on port {port};"
                f" end of {log}:\n{_tail(log)}",
                pid=pid,
                log=log,
            )
        if time.monotonic() > deadline:
            processes.stop_groups([pid], params["stop_timeout"])
            os.remove(params["pidfile"])
            module.fail_json(
                msg=f"{params['name']} is not listening on port {port} "
                f"after {params['ready_timeout']:g} s; end of {log}:\n{_tail(log)}",
                pid=pid,
                log=log,
            )
        time.sleep(0.05)


def _start(module, log):
    params = module.params
    pid = processes.read_pid(params["pidfile"])
    if processes.alive(pid):
        if params["ready_port"]:
            _wait_ready(module, pid, log)
        module.exit_json(changed=False, pid=pid, log=log)
    if not params["argv"]:
        if module.check_mode:  # nothing was started, so there is nothing to wait for
            module.exit_json(changed=False, log=log)
        module.fail_json(
            msg=f"{params['name']} is not running, and argv is required to start it;"
            f" end of {log}:\n{_tail(log)}"
        )
    if params["creates"] and os.path.exists(params["creates"]):
        module.exit_json(changed=False, log=log, msg=f"{params['creates']} exists")
    if module.check_mode:
        module.exit_json(changed=True, log=log)
    for path in (params["pidfile"], log):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    env = dict(os.environ, **{key: str(value) for key, value in params["env"].items()})
    with open(log, "ab") as output, open(os.devnull, "rb") as nothing:
        try:
            child = subprocess.Popen(
                params["argv"],
                stdin=nothing,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=params["chdir"],
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as error:
            module.fail_json(msg=f"{params['name']}: cannot start {params['argv'][0]}: {error}")
    with open(params["pidfile"], "w", encoding="ascii") as stream:
        stream.write(f"{child.pid}\n")
    if params["ready_port"]:
        _wait_ready(module, child.pid, log)
    module.exit_json(changed=True, pid=child.pid, log=log)


def _stop(module, log):
    params = module.params
    pidfiles = [params["pidfile"]] if params["pidfile"] else _expand(params["pidfiles"])
    pids = {path: processes.read_pid(path) for path in pidfiles}
    running = [pid for pid in pids.values() if pid is not None and processes.group_members(pid)]
    if running and not module.check_mode:
        processes.stop_groups(running, params["stop_timeout"])
        survivors = [pid for pid in running if processes.group_members(pid)]
        if survivors:
            module.fail_json(
                msg=f"{params['name']}: process group(s) {survivors} survived SIGKILL",
                pids=survivors,
            )
    if not module.check_mode:
        for path, pid in pids.items():
            if pid is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
    found = {"pid": running[0]} if params["pidfile"] and running else {}
    module.exit_json(changed=bool(running), log=log, pids=running, **found)


def _default_log(pidfile: str) -> str:
    directory, name = os.path.split(os.path.splitext(pidfile)[0])
    return os.path.join(directory, "logs", f"{name}.log")


def _expand(patterns: list[str]) -> list[str]:
    return sorted({path for pattern in patterns for path in glob.glob(pattern)})


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "argv": {"type": "list", "elements": "str"},
            "pidfile": {"type": "path"},
            "pidfiles": {"type": "list", "elements": "str"},
            "log": {"type": "path"},
            "env": {"type": "dict", "default": {}},
            "chdir": {"type": "path"},
            "state": {"type": "str", "choices": ["started", "stopped"], "default": "started"},
            "creates": {"type": "path"},
            "ready_port": {"type": "int"},
            "ready_timeout": {"type": "float", "default": 60},
            "stop_timeout": {"type": "float", "default": 10},
        },
        required_one_of=[("pidfile", "pidfiles")],
        mutually_exclusive=[("pidfile", "pidfiles")],
        required_if=[("state", "started", ("pidfile",))],
        supports_check_mode=True,
    )
    pidfile = module.params["pidfile"]
    log = module.params["log"] or (_default_log(pidfile) if pidfile else None)
    if module.params["state"] == "started":
        _start(module, log)
    _stop(module, log)


if __name__ == "__main__":
    main()
