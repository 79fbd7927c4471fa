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
author: burst
options:
  name:
    description: What the process is, for messages (C(scheduler), C(worker-0), ...).
    type: str
    required: true
  argv:
    description: The command and its arguments. Required when I(state=started).
    type: list
    elements: str
  pidfile:
    description: Where the pid is kept.
    type: path
    required: true
  log:
    description: Where stdout and stderr go. Defaults to the pid file with C(.log).
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
      - Wait until a socket listens on this TCP port. The check reads the kernel's socket
        table instead of connecting, so the process never sees a probe connection.
    type: int
  ready_timeout:
    description: Seconds to wait for I(ready_port).
    type: float
    default: 60
  stop_timeout:
    description: Seconds between SIGTERM and SIGKILL.
    type: float
    default: 10
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
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
"""

RETURN = r"""
pid:
  description: The process id (started), or the one stopped.
  returned: when there is one
  type: int
log:
  description: The log file.
  returned: always
  type: str
"""

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
    while not processes.listening(port):
        if not processes.alive(pid):
            module.fail_json(
                msg=f"{params['name']} exited before listening on port {port};"
                f" end of {log}:\n{_tail(log)}",
                pid=pid,
                log=log,
            )
        if time.monotonic() > deadline:
            processes.stop_group(pid, params["stop_timeout"])
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
    if not params["argv"]:
        module.fail_json(msg=f"{params['name']}: argv is required to start it")
    pid = processes.read_pid(params["pidfile"])
    if processes.alive(pid):
        if params["ready_port"]:
            _wait_ready(module, pid, log)
        module.exit_json(changed=False, pid=pid, log=log)
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
    pid = processes.read_pid(params["pidfile"])
    if pid is None or not processes.group_members(pid):
        if pid is not None and not module.check_mode:
            os.remove(params["pidfile"])
        module.exit_json(changed=False, log=log)
    if not module.check_mode:
        processes.stop_group(pid, params["stop_timeout"])
        if processes.group_members(pid):
            module.fail_json(msg=f"{params['name']}: process group {pid} survived SIGKILL", pid=pid)
        os.remove(params["pidfile"])
    module.exit_json(changed=True, pid=pid, log=log)


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "argv": {"type": "list", "elements": "str"},
            "pidfile": {"type": "path", "required": True},
            "log": {"type": "path"},
            "env": {"type": "dict", "default": {}},
            "chdir": {"type": "path"},
            "state": {"type": "str", "choices": ["started", "stopped"], "default": "started"},
            "creates": {"type": "path"},
            "ready_port": {"type": "int"},
            "ready_timeout": {"type": "float", "default": 60},
            "stop_timeout": {"type": "float", "default": 10},
        },
        supports_check_mode=True,
    )
    log = module.params["log"] or os.path.splitext(module.params["pidfile"])[0] + ".log"
    if module.params["state"] == "started":
        _start(module, log)
    _stop(module, log)


if __name__ == "__main__":
    main()
