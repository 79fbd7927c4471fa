#!/usr/bin/python
"""burst.cluster.job_status: the state of a run, as the receiver reports it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: job_status
short_description: Report a burst run's progress from the receiver's progress file
description:
  - Reads the C(progress.json) that the receiver keeps current (rows out, rows rejected,
    state, error) and checks that the run's processes on this host are alive.
  - C(burst.cluster.wait_job) calls it until the run ends; on a host that is the controller
    (connection local) it calls its C(watch) in its own process instead.
version_added: 0.1.0
author: burst (!UNKNOWN)
options:
  progress:
    description: The receiver's C(progress.json).
    type: path
    required: true
  pidfiles:
    description:
      - Components that must run until the job ends, as name to pid file; one whose process
        is gone is reported in C(dead).
      - A component also in O(exit_files) is dead only if it is gone without its exit file
        (it was killed).
    type: dict
    default: {}
  exit_files:
    description:
      - Components that may end before the job does, as name to the file their
        C(python -m classifier --exit-file) writes on exit (status, then the error).
      - "One that exited with a status other than 0 is reported in C(exited), one that
        exited with 0 in C(finished). Status 3 means it lost its peer (it was refused, or the
        peer stopped answering): the effect of a failure elsewhere."
    type: dict
    default: {}
  wait:
    description:
      - Seconds to keep watching before reporting, looking every 0.1 s; the report comes
        at once when the run has ended (state C(done) or C(failed)), a component is dead
        or one exited with an error.
    type: float
    default: 0
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
- name: How far is the run
  burst.cluster.job_status:
    progress: /tmp/burst/run/results/progress.json
    pidfiles:
      receiver: /tmp/burst/run/receiver.pid
"""

RETURN = r"""
progress:
  description:
    - The progress file's content (state, rows_out, rows_rejected, rows_in, started_at,
      updated_at, error); empty before the receiver writes it.
  returned: always
  type: dict
dead:
  description: Components whose process is gone.
  returned: always
  type: list
  elements: str
exited:
  description: Components of O(exit_files) that failed, as name to status and error.
  returned: always
  type: dict
  sample: {"sender": {"status": 2, "error": "send: cannot read s3://rows/a.csv: ..."}}
finished:
  description: Components of O(exit_files) that exited with status 0.
  returned: always
  type: list
  elements: str
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.burst.cluster.plugins.module_utils import processes


def _status(params):
    try:
        with open(params["progress"], encoding="utf-8") as stream:
            progress = json.load(stream)
    except FileNotFoundError:
        progress = {}
    gone = {
        name
        for name, pidfile in params["pidfiles"].items()
        if not processes.alive(processes.read_pid(pidfile))
    }
    exited, finished = {}, []
    for name, path in params["exit_files"].items():
        try:
            with open(path, encoding="utf-8") as stream:
                status, _, error = stream.read().partition("\n")
        except FileNotFoundError:
            continue
        if status.strip() == "0":
            finished.append(name)
        else:
            exited[name] = {"status": int(status), "error": error.strip()}
    dead = sorted(gone - set(finished) - set(exited))  # an exit file is written before the exit
    return progress, dead, exited, sorted(finished)


def watch(params: dict) -> dict:
    """The run's state once it has ended, a component is dead or exited with an error, or
    ``params["wait"]`` seconds have passed, looking every 0.1 s."""
    deadline = time.monotonic() + params["wait"]
    while True:
        progress, dead, exited, finished = _status(params)
        ended = progress.get("state") in ("done", "failed") or dead or exited
        if ended or time.monotonic() >= deadline:
            return {"progress": progress, "dead": dead, "exited": exited, "finished": finished}
        time.sleep(0.1)


def main():
    module = AnsibleModule(
        argument_spec={
            "progress": {"type": "path", "required": True},
            "pidfiles": {"type": "dict", "default": {}},
            "exit_files": {"type": "dict", "default": {}},
            "wait": {"type": "float", "default": 0},
        },
        supports_check_mode=True,
    )
    module.exit_json(changed=False, **watch(module.params))


if __name__ == "__main__":
    main()
