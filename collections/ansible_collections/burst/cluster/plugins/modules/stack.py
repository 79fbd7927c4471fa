#!/usr/bin/python
"""burst.cluster.stack: bring the cluster's machines up or down and write the stack outputs."""

from __future__ import annotations

DOCUMENTATION = r"""
module: stack
short_description: Bring a burst cluster's machines up or down
description:
  - Makes the machines of the cluster that C(burst.cluster.config) returned and writes the
    stack outputs (one entry per host with name, role, instance id, private IP, public DNS
    and work directory) to C(stack-outputs.json) in the cluster's state directory, where the
    C(burst.cluster.stack_outputs) inventory plugin reads them, whatever the provider.
  - The cluster's provider does the work, on the controller, in the module of that name in
    C(plugins/module_utils/providers/) of this collection. Those of burst follow.
  - For provider C(local) every host is this machine and nothing is provisioned;
    C(state=absent) removes the outputs and the hosts' work directories, which are in the
    cluster's state directory.
  - For provider C(static) the hosts are the machines C(static.hosts) lists; nothing is
    provisioned. The first C(size) run workers, the first of them is the initializer; the
    next, if listed, is the metrics host, else the initializer is the metrics host too,
    under a second host name with its own work directory. C(state=absent) removes the
    outputs and the saved host keys.
  - For provider C(aws) it drives burst's Pulumi program (an inline program, in this
    collection) through Pulumi's Automation API in the stack named after the cluster, in the
    backend C(aws.state); Pulumi's own files are in C(pulumi/) in the state directory.
    C(state=present) runs C(pulumi up), check mode runs C(pulumi preview) and returns the
    change summary, C(state=absent) runs C(pulumi destroy) and removes the stack (unless
    C(aws.keep_stack) is set). The engine's output is appended to C(logs/pulumi.log) in the
    state directory as it comes.
  - Before C(pulumi up) or C(pulumi preview) it makes the cluster's ed25519 SSH key pair with
    C(community.crypto.openssh_keypair) under C(ssh/) in the state directory (directory mode
    0700, private key mode 0600, comment C(burst-<name>)), and passes the public key to the
    program; C(state=absent) removes it with the stack.
  - It checks the config with the cluster file loader first, on the controller, then that
    the Pulumi CLI and AWS credentials are there, and fails with what to install or set
    before Pulumi runs.
version_added: 0.1.0
author: burst (!UNKNOWN)
requirements:
  - For provider C(aws) the Pulumi CLI on PATH, the C(pulumi) and C(pulumi-aws) Python
    packages, and AWS credentials.
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
  force:
    description:
      - With O(state=absent), remove a stack that the cluster file says to keep
        (C(aws.keep_stack)), as C(playbooks/down.yml) does.
    type: bool
    default: false
  state_dir:
    description:
      - The cluster's state directory, where the controller keeps its stack outputs, hosts'
        work directories (provider C(local)), known hosts, SSH key and logs.
      - Defaults to C(.burst/<name>) beside the cluster file, or C($BURST_STATE_DIR/<name>)
        when that is set; nothing of another cluster is in it.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: With provider C(aws) a preview creates the stack's record in the backend if
      it is missing, as Pulumi needs one to preview, and the cluster's SSH key, whose public
      key the preview needs; no resource is made.
  diff_mode:
    support: none
  platform:
    platforms: posix
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
  description:
    - The stack outputs (present), the outputs removed (absent).
    - In check mode with provider C(aws), the current outputs, or the planned hosts'
      names and roles when there is no stack yet.
  returned: always
  type: dict
outputs_file:
  description: Where the outputs are written.
  returned: always
  type: str
changes:
  description: Resources per operation (create, update, delete, same, ...), from Pulumi.
  returned: provider aws
  type: dict
  sample: {"create": 9}
engine_log:
  description: The file the Pulumi engine's output was appended to.
  returned: provider aws
  type: str
hosts:
  description:
    - Every machine as the inventory has it (C(name), C(groups), C(vars)), with the variables
      the C(burst.cluster.stack_outputs) inventory plugin sets, for C(ansible.builtin.add_host).
  returned: state present, outside check mode
  type: list
  elements: dict
dask_dashboard:
  description:
    - Where to open the run's Dask dashboard (C(url)) and, for machines that are not the
      controller, the SSH tunnel that reaches it (C(tunnel)); null for provider local.
  returned: state present, outside check mode
  type: dict
  sample: {"url": "http://127.0.0.1:8787/status", "tunnel": null}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.burst.cluster.plugins.module_utils import providers, stack_outputs

ARGUMENT_SPEC = {
    "config": {"type": "dict", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "state_dir": {"type": "path"},
    "force": {"type": "bool", "default": False},
}


def run(params: dict, check_mode: bool, make_ssh_key=None) -> dict:
    """The module's result for ``params``: the provider of the config does the work.
    ``make_ssh_key`` goes to a provider that takes the cluster's SSH key (see providers)."""
    config = params["config"]
    directory = params["state_dir"] or stack_outputs.state_dir(config)
    provider = providers.get(config["provider"])
    key = {"make_ssh_key": make_ssh_key} if getattr(provider, "SSH_KEY", False) else {}
    return provider.stack(config, directory, params["state"], check_mode, params["force"], **key)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = run(module.params, module.check_mode)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
