"""burst.cluster.stack_outputs: the cluster's hosts, from the stack outputs of any provider."""

from __future__ import annotations

DOCUMENTATION = r"""
name: stack_outputs
short_description: burst cluster hosts from the stack outputs
version_added: 0.1.0
author: burst
description:
  - Reads C(stack-outputs.json), which C(burst.cluster.stack) writes for every provider,
    and makes a host of each machine with groups C(scheduler) (the initializer),
    C(workers) (every machine that runs Dask workers), C(metrics_host) (sender and
    receiver) and C(cluster) (all of them).
  - The outputs are those of the cluster the playbook run is about, the one of O(cluster_file)
    (the extra variable C(cluster_file) that C(playbooks/site.yml), C(check.yml) and
    C(down.yml) take), read from that cluster's state directory, C(.burst/<name>) beside the
    cluster file, or C($BURST_STATE_DIR/<name>) when that is set. The name comes from the
    cluster file through the loader the playbooks use, so two clusters of one checkout
    never see each other's hosts.
  - A cluster file that does not load adds no host and no error; the playbook reports the
    loader's message itself.
  - Provider C(local) hosts use C(ansible_connection=local) and the controller's Python.
  - Other hosts are reached over SSH at their public DNS name (else private IP) with the
    outputs' user and key; their host keys are accepted on first sight and kept in
    C(known_hosts) in the cluster's state directory, never in the user's own.
  - Before the stack exists the inventory is empty.
  - The file must be named C(*.burst.yml) or C(*.burst.yaml).
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: The name of this plugin.
    required: true
    choices: [burst.cluster.stack_outputs]
  cluster_file:
    description:
      - The cluster file whose hosts to list; relative to the current directory.
      - Set in the inventory file, it wins over the extra variable (Ansible's order for
        plugin options); C(playbooks/inventory/stack.burst.yml) leaves it to the variable.
      - Defaults to C(cluster.yaml) of the burst checkout this collection is in, as for
        C(playbooks/site.yml).
    type: path
    vars:
      - name: cluster_file
  state_dir:
    description:
      - Where every cluster's state directory is, in place of C(.burst) beside the cluster
        file; the outputs are then in C(<state_dir>/<name>/stack-outputs.json).
    type: path
    env:
      - name: BURST_STATE_DIR
"""

EXAMPLES = r"""
# playbooks/inventory/stack.burst.yml: the cluster of -e cluster_file=PATH, else cluster.yaml
#   ansible-inventory --graph -e cluster_file=hourly.yaml
plugin: burst.cluster.stack_outputs

---
# with a group per role and a variable composed from the outputs
plugin: burst.cluster.stack_outputs
keyed_groups:
  - key: burst_role
    prefix: role
compose:
  dask_address: "'tcp://' ~ burst_private_ip ~ ':8786'"
"""

import sys

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.utils.display import Display
from ansible_collections.burst.cluster.plugins.module_utils import stack_outputs
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    PROJECT_DIR,
    ClusterConfigError,
    load_cluster_file,
)

display = Display()
GROUPS = {
    "initializer": ("cluster", "scheduler", "workers"),
    "worker": ("cluster", "workers"),
    "metrics_host": ("cluster", "metrics_host"),
}


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "burst.cluster.stack_outputs"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith((".burst.yml", ".burst.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)  # options, with cluster_file from the extra vars
        cluster_file = self.get_option("cluster_file") or str(PROJECT_DIR / "cluster.yaml")
        try:
            config = load_cluster_file(cluster_file)
        except ClusterConfigError as error:
            display.vvv(f"burst.cluster.stack_outputs: no hosts, as {error}")
            return
        state_dir = stack_outputs.state_dir(config, self.get_option("state_dir"))
        outputs_file = stack_outputs.outputs_path(state_dir)
        # Machines are new each run: trust a host key on first sight, in the state dir only.
        known_hosts = (
            "-o StrictHostKeyChecking=accept-new"
            f" -o UserKnownHostsFile={stack_outputs.known_hosts_path(state_dir)}"
        )
        try:
            outputs = stack_outputs.read(outputs_file)
        except (ValueError, OSError) as error:
            raise AnsibleParserError(f"{outputs_file}: {error}") from error
        if outputs is None:
            return
        for group in ("cluster", "scheduler", "workers", "metrics_host"):
            self.inventory.add_group(group)
        self.inventory.set_variable("cluster", "burst_cluster", outputs["cluster"])
        self.inventory.set_variable("cluster", "burst_provider", outputs["provider"])
        self.inventory.set_variable("cluster", "burst_dashboard_url", outputs["dashboard_url"])
        for host in outputs["hosts"]:
            name = host["name"]
            for group in GROUPS[host["role"]]:
                self.inventory.add_host(name, group=group)
            hostvars = {f"burst_{key}": value for key, value in host.items() if key != "name"}
            if outputs["provider"] == "local":
                hostvars.update(
                    ansible_connection="local", ansible_python_interpreter=sys.executable
                )
            else:
                hostvars.update(
                    ansible_host=host["public_dns"] or host["private_ip"],
                    ansible_ssh_common_args=known_hosts,
                )
                if outputs["ssh_user"]:
                    hostvars["ansible_user"] = outputs["ssh_user"]
                if outputs["ssh_key"]:
                    hostvars["ansible_ssh_private_key_file"] = outputs["ssh_key"]
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, value)
            strict = self.get_option("strict")
            self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(
                self.get_option("groups"), hostvars, name, strict=strict
            )
            self._add_host_to_keyed_groups(
                self.get_option("keyed_groups"), hostvars, name, strict=strict
            )
