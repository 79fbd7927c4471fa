#!/usr/bin/python
"""burst.cluster.stack: bring the cluster's machines up or down and write the stack outputs."""

from __future__ import annotations

DOCUMENTATION = r"""
module: stack
short_description: Bring a burst cluster's machines up or down
description:
  - Makes the machines of the cluster that C(burst.cluster.config) returned and writes the
    stack outputs (one entry per host with name, role, instance id, private IP, public DNS
    and work directory) to C(stack-outputs.json) in the state directory, where the
    C(burst.cluster.stack_outputs) inventory plugin reads them.
  - For provider C(local) every host is this machine and nothing is provisioned.
  - C(state=absent) removes the outputs and the hosts' work directories.
version_added: 0.1.0
author: burst
options:
  config:
    description: The normalised cluster config, as C(burst.cluster.config) returns it.
    type: dict
    required: true
  state:
    description: Whether the stack should exist.
    type: str
    choices: [present, absent]
    default: present
  state_dir:
    description:
      - Where the controller keeps the stack outputs.
      - Defaults to C($BURST_STATE_DIR), else C(.burst) in the current directory.
    type: path
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Bring the cluster up
  burst.cluster.stack:
    config: "{{ cluster.config }}"
    state: present
  register: stack

- name: Tear it down
  burst.cluster.stack:
    config: "{{ cluster.config }}"
    state: absent
"""

RETURN = r"""
outputs:
  description: The stack outputs (present) or the outputs removed (absent).
  returned: always
  type: dict
outputs_file:
  description: Where the outputs are written.
  returned: always
  type: str
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.burst.cluster.plugins.module_utils import stack_outputs


def main():
    module = AnsibleModule(
        argument_spec={
            "config": {"type": "dict", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "state_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    config = module.params["config"]
    directory = stack_outputs.state_dir(module.params["state_dir"])
    path = stack_outputs.outputs_path(directory)
    provider = config.get("provider")
    if provider != "local":
        module.fail_json(
            msg=f"provider: {provider!r} is not supported by this version of "
            "burst.cluster.stack; use provider: local",
            outputs_file=path,
        )
    current = stack_outputs.read(path)
    if module.params["state"] == "absent":
        if current and not module.check_mode:
            for host in current["hosts"]:
                shutil.rmtree(host["workdir"], ignore_errors=True)
            os.remove(path)
        module.exit_json(changed=current is not None, outputs=current or {}, outputs_file=path)
    wanted = stack_outputs.local(config, directory)
    changed = current != wanted
    if changed and not module.check_mode:
        stack_outputs.write(path, wanted)
    module.exit_json(changed=changed, outputs=wanted, outputs_file=path)


if __name__ == "__main__":
    main()
