"""Documentation of burst.cluster.config; the work is done by the action plugin of the same name."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: config
short_description: Load and validate a burst cluster file
description:
  - Reads a burst cluster file (C(cluster.yaml)), checks it against the collection's JSON Schema
    (C(schema/cluster.schema.json) of this collection) and returns it
    normalised, with every default filled in and every relative path made absolute.
  - Relative paths inside the file (O(path) of a C(file) source, C(results.dir)) are relative to
    the directory of the cluster file.
  - "On a mistake it fails with one line per problem, each naming the field, the value found and
    what is allowed, for example C(job.slowness: -3 — must be an integer from 0 to 1000000).
    A message shows at most 200 characters of any value."
  - The file is read within bounds, so a hostile one is refused within seconds; it may hold at
    most 1 MiB, 1000 values and 32 levels of nesting, counted with YAML aliases written out,
    and integers of at most 100 characters.
  - Runs on the controller only (it is an action plugin); it never connects to the target host.
version_added: 0.1.0
author: burst (!UNKNOWN)
options:
  path:
    description:
      - Path of the cluster file on the controller.
      - A relative path is relative to the directory C(ansible-playbook) was started in.
    type: path
    required: true
  overrides:
    description:
      - "Sections merged into the file before it is checked, e.g. C({source: {rows: 100}}) for a
        smaller run. They are checked like the file; a problem names them in its message."
    type: dict
    default: {}
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  async:
    support: none
    description: Loading a file is quick; it cannot run asynchronously.
  check_mode:
    support: full
    description: Only reads files, so it runs the same in check mode.
  diff_mode:
    support: none
    description: It changes nothing, so there is no diff.
  platform:
    platforms: posix
    description: Runs on the controller.
notes:
  - The loader is the collection's module_utils C(cluster_config), shared by every reader of the
    cluster file, so a file accepted here is accepted everywhere.
"""

EXAMPLES = r"""
- name: Load the cluster file
  burst.cluster.config:
    path: cluster.yaml
  register: burst_cluster

- name: Show the size and the timeout
  ansible.builtin.debug:
    msg: "{{ burst_cluster.config.size }} machines, timeout {{ burst_cluster.config.job.timeout }}"
"""

RETURN = r"""
longest_run_minutes:
  description:
    - The longest a run of this file may take, in whole minutes, from provisioning to the end
      of teardown (C(job.timeout) + 10 min to boot and install + 10 min to collect and tear down).
  returned: success
  type: int
  sample: 80
config:
  description:
    - The cluster file, validated and normalised; every default filled in, relative paths made
      absolute.
    - Also holds C(cluster_file), the absolute path of the file, and C(base_dir), its directory.
  returned: success
  type: dict
  sample:
    name: burst
    provider: local
    size: 1
    workers_per_host: 2
    ports: {scheduler: 8786, dashboard: 8787, source: 7100, receiver: 7200}
    source: {kind: synthetic, rows: 10000, seed: 0}
    job:
      classifier: classifier.black_box:classify
      slowness: 1000
      batch_rows: auto
      max_in_flight: 0
      timeout: 3600
    results: {dir: /srv/burst/output}
    cluster_file: /srv/burst/cluster.yaml
    base_dir: /srv/burst
problems:
  description:
    - Every problem found in the file, one per item.
    - "Each reads C(<field path>: <value> — <what is allowed>)."
  returned: failure
  type: list
  elements: str
  sample:
    - "job.slowness: -3 — must be an integer from 0 to 1000000"
    - "source.rowz: unknown key — allowed keys: kind, rows, seed"
"""

from ansible_collections.burst.cluster.plugins.module_utils.controller_only import (  # noqa: E402
    bypassed,
)

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "overrides": {"type": "dict", "default": {}},
}


def main():
    bypassed("config", ARGUMENT_SPEC, supports_check_mode=True)


if __name__ == "__main__":
    main()
