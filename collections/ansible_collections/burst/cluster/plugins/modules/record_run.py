"""Documentation of burst.cluster.record_run; its action plugin does the work."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: record_run
short_description: Record in a burst run's manifest what sizing and the run report read
description:
  - "Adds to C(<results.dir>/<run_id>/manifest.json), once the results are collected: C(run_id),
    C(cluster), C(provider), C(instance_type) (the provider's name for C(local) and C(static)),
    C(size), C(hosts), C(workers), C(wall_seconds) (from the controller's start to now),
    C(cost) (USD, per machine-second with a minute's minimum; 0 without cloud machines),
    C(failures) and C(predicted). The receiver's keys (rows, C(seconds) of the job,
    C(classifier), C(slowness), ...) stay as they are."
  - Without a manifest it does nothing.
version_added: 0.2.0
author: burst (!UNKNOWN)
options:
  config:
    description: The run's config (its size an integer), as M(burst.cluster.sizing) returns it.
    type: dict
    required: true
  run_id:
    description: The run's id.
    type: str
    required: true
  controller:
    description: The controller's id, C(PID@CREATE_TIME), as M(burst.cluster.run_lock) returns it.
    type: str
    required: true
  failures:
    description: What failed in the run, one line each; the history leaves out a run with any.
    type: list
    elements: str
    default: []
  predicted:
    description: The prediction M(burst.cluster.sizing) made, C(size), C(seconds), C(basis).
    type: dict
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  async:
    support: none
    description: Quick.
  check_mode:
    support: none
    description: A preview has no run to record.
  diff_mode:
    support: none
    description: No diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
"""

EXAMPLES = r"""
- name: Record the run in its manifest
  burst.cluster.record_run:
    config: "{{ burst_config }}"
    run_id: "{{ burst_run_id }}"
    controller: "{{ burst_lock.controller }}"
    predicted: "{{ burst_sizing.predicted | default(omit) }}"
"""

RETURN = r"""
wall_seconds:
  description: The run's wall time recorded.
  returned: when there was a manifest
  type: float
cost:
  description: The run's cost recorded, in USD; null without a price.
  returned: when there was a manifest
  type: float
"""

from ansible_collections.burst.cluster.plugins.module_utils.controller_only import (  # noqa: E402
    bypassed,
)

ARGUMENT_SPEC = {
    "config": {"type": "dict", "required": True},
    "run_id": {"type": "str", "required": True},
    "controller": {"type": "str", "required": True},
    "failures": {"type": "list", "elements": "str", "default": []},
    "predicted": {"type": "dict"},
}


def main():
    bypassed("record_run", ARGUMENT_SPEC, supports_check_mode=False)


if __name__ == "__main__":
    main()
