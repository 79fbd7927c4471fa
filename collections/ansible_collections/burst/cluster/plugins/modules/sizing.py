"""Documentation of burst.cluster.sizing; the work is done by the action plugin of the same name."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sizing
short_description: Predict a burst run's time and cost at each size, and pick the size for size auto
description:
  - "Predicts the whole run's wall time (from the controller's start to the results collected)
    of the cluster file at each size: up to 64 machines for C(aws), the hosts listed for
    C(static), this machine's cores for C(local)."
  - "The prediction's basis is C(history): the cluster's earlier runs of the same provider,
    instance type, classifier and slowness that succeeded, read from C(results.dir) and
    C(results.s3) (the latest C(sizing.history)); or, without any, C(sample): a sample of the
    input classified on the controller for about C(sizing.sample_seconds)."
  - "The input's rows: C(source.rows) for synthetic, the file's lines, or an S3 object's size
    divided by the bytes per row of its first MiB."
  - "With C(size: auto) it returns the config with the cheapest size whose prediction is at most
    C(job.deadline) × C(sizing.margin), and fails, naming the size and machine type it would
    take, when none does. A fixed size predicted to miss the deadline, and a growth of the
    rows that will make it miss, are warnings."
  - A fixed size whose input cannot be sized (an S3 object that cannot be read, say) gives a
    warning and no table.
version_added: 0.2.0
author: burst (!UNKNOWN)
options:
  config:
    description: The cluster file as M(burst.cluster.config) returns it.
    type: dict
    required: true
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  async:
    support: none
    description: It takes seconds at most.
  check_mode:
    support: full
    description: It changes nothing; the preview shows its table.
  diff_mode:
    support: none
    description: Nothing to compare.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
"""

EXAMPLES = r"""
- name: Size the cluster
  burst.cluster.sizing:
    config: "{{ burst_cluster_file.config }}"
  register: burst_sizing

- name: Show the sizing table
  ansible.builtin.debug:
    msg: "{{ burst_sizing.msg }}"
"""

RETURN = r"""
config:
  description: The config, with C(size) the size to run (an integer).
  returned: always
  type: dict
sized:
  description: Whether there is a prediction.
  returned: always
  type: bool
msg:
  description: The size, the model, the table as Markdown lines, and what history was skipped.
  returned: always
  type: list
  elements: str
table:
  description: Size by size, C(size), C(workers), C(seconds), C(cost) in USD and C(meets).
  returned: when sized
  type: list
  elements: dict
predicted:
  description:
    - What the manifest records, C(size), C(seconds), C(basis) (history or sample), and for a
      sample the C(sampled_seconds) it took, which later predictions leave out of the overhead.
  returned: when sized
  type: dict
  sample: {size: 2, seconds: 31.5, basis: history}
rows:
  description: The input's rows the prediction is for.
  returned: when sized
  type: int
runs:
  description: How many earlier runs the model learnt from (0 for a sample).
  returned: when sized
  type: int
model:
  description: The model's figures, in a line.
  returned: when sized
  type: str
sizing_warnings:
  description: A fixed size predicted to miss the deadline; the rows' growth.
  returned: when sized
  type: list
  elements: str
"""

from ansible_collections.burst.cluster.plugins.module_utils.controller_only import (  # noqa: E402
    bypassed,
)

ARGUMENT_SPEC = {
    "config": {"type": "dict", "required": True},
}


def main():
    bypassed("sizing", ARGUMENT_SPEC, supports_check_mode=True)


if __name__ == "__main__":
    main()
