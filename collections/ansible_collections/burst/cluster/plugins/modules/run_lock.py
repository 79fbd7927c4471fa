"""Documentation of burst.cluster.run_lock; the work is done by the action plugin of the same
name."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_lock
short_description: Let one run of a burst cluster go at a time, and name its controller
description:
  - With O(state=present), takes the lock file of a cluster for this run, so that a second
    C(make run) of the same cluster while one is going fails at once with a clear message,
    instead of starting processes on the same ports.
  - The lock holds the controller (the C(ansible-playbook) process, as C(PID@CREATE_TIME)), the
    run id, the cluster name and when the run started. A lock whose controller still runs (the
    same pid, created at the same time) belongs to a running run; one whose controller is gone
    (the run was killed) is stale and is taken over, returning its run id as RV(stale).
  - Returns the controller's id as RV(controller) for the run's processes
    (C(python -m classifier --controller)), which stop when the controller is gone.
  - With O(state=absent), removes the lock if it belongs to this run's controller and leaves any
    other lock in place.
  - "Runs on the controller only (it is an action plugin); it never connects to a host. The
    check and the write are done under an exclusive C(flock) of the lock's directory, and the
    lock is written to a temporary file renamed into place, so two runs starting together never
    both get it and the file is never seen half written."
version_added: 0.1.0
author: burst (!UNKNOWN)
options:
  path:
    description:
      - The lock file on the controller. Its directory is made if missing.
      - Defaults to C(run.lock) in the state directory of the cluster of O(config)
        (C(.burst/<name>) beside the cluster file, or C($BURST_STATE_DIR/<name>), as for
        M(burst.cluster.stack)).
      - One of O(path) and O(config) is required.
    type: path
  config:
    description: The cluster's config, as M(burst.cluster.config) returns it.
    type: dict
  state:
    description: V(present) to take the lock for this run, V(absent) to give it back.
    type: str
    choices: [present, absent]
    default: present
  run_id:
    description: The id of this run, written to the lock. Required with O(state=present).
    type: str
  cluster:
    description:
      - The cluster's name, for messages. Defaults to the name in O(config), else to the name
        of the lock file without its extension.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  async:
    support: none
    description: Taking a lock is quick; it cannot run asynchronously.
  check_mode:
    support: full
    description:
      - In check mode O(state=present) still fails if a run of the cluster is going, and
        reports whether it would take (or take over) the lock, but writes nothing;
        O(state=absent) reports whether it would remove the lock and removes nothing.
  diff_mode:
    support: none
    description: No diff is shown.
  platform:
    platforms: posix
    description: Runs on the controller; needs C(flock) and C(/proc) (Linux).
notes:
  - The controller's id and the test of whether it still runs come from the app's module
    C(classifier.watchdog), which the run's processes use too, so the app (C(burst)) must be
    installed beside Ansible on the controller, as C(make) does.
  - The controller is the parent of the process that runs the action (Ansible forks a worker per
    task from C(ansible-playbook)).
"""

EXAMPLES = r"""
- name: Take the cluster's run lock
  burst.cluster.run_lock:
    config: "{{ burst_config }}"
    run_id: "{{ burst_run_id }}"
  register: burst_lock

- name: Say that the previous run was interrupted
  ansible.builtin.debug:
    msg: "run {{ burst_lock.stale }} was interrupted before it ended; its lock is taken over"
  when: burst_lock.stale is defined

- name: Give the lock back
  burst.cluster.run_lock:
    path: .burst/demo/run.lock
    state: absent
"""

RETURN = r"""
controller:
  description: This run's controller, the C(ansible-playbook) process, as C(PID@CREATE_TIME).
  returned: always
  type: str
  sample: 41230@1763719500.25
path:
  description: The lock file, absolute.
  returned: always
  type: str
  sample: /srv/burst/.burst/demo/run.lock
run_id:
  description:
    - With O(state=present), the run that holds the lock (this one on success, the running one
      when the task fails); with O(state=absent), the run of the lock found.
  returned: when there is a lock
  type: str
  sample: 20261121T101500Z-ab12
stale:
  description: The run id of a lock taken over because its controller was gone.
  returned: when a stale lock was taken over
  type: str
  sample: 20261121T093000Z-x7k2
msg:
  description: What was done, or why the lock cannot be taken.
  returned: always
  type: str
  sample: >-
    cluster 'demo' is already running: run 20261121T101500Z-ab12, started 2026-11-21 10:15:00 UTC
    by ansible-playbook (pid 1234); wait for it to finish or stop it (Ctrl-C), then try again
"""

from ansible_collections.burst.cluster.plugins.module_utils.controller_only import (  # noqa: E402
    bypassed,
)

ARGUMENT_SPEC = {
    "path": {"type": "path"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "run_id": {"type": "str"},
    "cluster": {"type": "str"},
    "config": {"type": "dict"},
}
REQUIRED_ONE_OF = [("path", "config")]
REQUIRED_IF = [("state", "present", ("run_id",))]


def main():
    bypassed(
        "run_lock",
        ARGUMENT_SPEC,
        required_one_of=REQUIRED_ONE_OF,
        required_if=REQUIRED_IF,
        supports_check_mode=True,
    )


if __name__ == "__main__":
    main()
