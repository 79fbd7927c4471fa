#!/usr/bin/python
"""burst.cluster.wait_job: wait for a run to finish, showing its progress."""

from __future__ import annotations

DOCUMENTATION = r"""
module: wait_job
short_description: Wait for a burst run to end, showing rows done and rows per second
description:
  - Polls C(burst.cluster.job_status) on the metrics host and prints a progress line
    (rows done of total, rows per second, seconds) whenever it changes.
  - Succeeds when the receiver reports the run done and every check of its rows holds;
    fails with the receiver's reason when it reports the run failed, when a watched process
    dies, when a component of O(exit_files) fails or never ends, when the rows in are not
    O(total_rows), when the sender's tally was not checked (O(tallied)), or after
    I(timeout) seconds.
  - "The first cause is named first, its effects after it (C(sender exited with status 2 ...;
    then the run failed: source: ...)); a component that exited with status 3 only lost its
    peer, so the wait gives the receiver a moment to say why."
  - This is an action plugin; it runs on the controller and calls C(job_status) on the host.
version_added: 0.1.0
author: burst (!UNKNOWN)
options:
  progress:
    description: The receiver's C(progress.json) on the host.
    type: path
    required: true
  pidfiles:
    description:
      - Components that must run until the job ends, as name to pid file; one also in
        O(exit_files) fails the wait only if it is gone without an exit status (killed).
    type: dict
    default: {}
  exit_files:
    description:
      - Components that end before the job does, as name to the file that
        C(python -m classifier --exit-file) writes; one that exits with an error fails
        the wait with that error, and the run succeeds only once each has exited with 0.
    type: dict
    default: {}
  timeout:
    description: Seconds before the run is declared failed (C(job.timeout)).
    type: float
    required: true
  total_rows:
    description:
      - Rows expected, when known before the end (synthetic source); the run fails when the
        rows in are any other number.
    type: int
  tallied:
    description:
      - Whether the run must have checked the sender's tally (records, bytes and SHA-256 of
        what it sent) against what the source took; burst's sender always sends one.
    type: bool
    default: false
  poll:
    description:
      - Most seconds between progress lines. The first comes after an eighth of them, and
        the gaps double up to O(poll). Each look is C(burst.cluster.job_status) started on
        the host, which shares its cores with the run, so a long run is looked at seldom; on
        a host that is the controller (connection local) the look starts nothing.
      - The end of the run, or a component's death, is noticed within 0.1 s whatever the gap.
    type: float
    default: 10.0
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin, which polls the host.
  check_mode:
    support: none
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Wait for the run
  burst.cluster.wait_job:
    progress: "{{ receiver_out }}/progress.json"
    pidfiles:
      receiver: "{{ run_dir }}/receiver.pid"
    exit_files:
      sender: "{{ run_dir }}/sender.exit"
    timeout: 3600
    total_rows: 100000
    tallied: true
"""

RETURN = r"""
progress:
  description: The receiver's last progress report.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = {
    "progress": {"type": "path", "required": True},
    "pidfiles": {"type": "dict", "default": {}},
    "exit_files": {"type": "dict", "default": {}},
    "timeout": {"type": "float", "required": True},
    "total_rows": {"type": "int"},
    "tallied": {"type": "bool", "default": False},
    "poll": {"type": "float", "default": 10.0},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC)
    module.fail_json(msg="burst.cluster.wait_job runs through its action plugin on the controller")


if __name__ == "__main__":
    main()
