"""burst.cluster.stack_outputs: the cluster's hosts, from the stack outputs of any provider."""

from __future__ import annotations

DOCUMENTATION = r"""
name: stack_outputs
short_description: burst cluster hosts from the stack outputs
version_added: 0.1.0
author: burst (!UNKNOWN)
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
  - "Every host has these variables: its own entry of the outputs as C(burst_role)
    (C(initializer), C(worker) or C(metrics_host)), C(burst_instance_id),
    C(burst_private_ip), C(burst_public_dns) and C(burst_workdir) (its work directory);
    the cluster's, C(burst_cluster) (its name), C(burst_provider) and C(burst_dashboard_url)
    (C(aws): the CloudWatch dashboard; otherwise the Dask dashboard); what its provider means
    for the plays, C(burst_on_controller) (every host is the controller itself),
    C(burst_machines_torn_down) (the machines go at the end of every run) and
    C(burst_host_env) (the environment the run's processes need); and how Ansible
    reaches it, below."
  - Hosts on the controller (provider C(local)) use C(ansible_connection=local) and the
    controller's Python (C(ansible_python_interpreter)).
  - Other hosts are reached over SSH (C(ansible_pipelining)) at their public DNS name (else
    private IP; C(ansible_host)) with the outputs' user and key (C(ansible_user),
    C(ansible_ssh_private_key_file)); their host keys are accepted on first sight and kept
    in C(known_hosts) in the cluster's state directory, never in the user's own
    (C(ansible_ssh_common_args)).
  - C(playbooks/site.yml) adds the same hosts with the same variables itself (the
    C(hosts) that C(burst.cluster.stack) returns), so it needs no inventory.
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
      - Defaults to C(cluster.yaml) in the current directory, which is C(playbooks/site.yml)'s
        default when Ansible runs from the root of the burst repository.
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
    ClusterConfigError,
    load_cluster_file,
)

display = Display()


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "burst.cluster.stack_outputs"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith((".burst.yml", ".burst.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)  # options, with cluster_file from the extra vars
        cluster_file = self.get_option("cluster_file") or "cluster.yaml"
        try:
            config = load_cluster_file(cluster_file)
        except ClusterConfigError as error:
            display.vvv(f"burst.cluster.stack_outputs: no hosts, as {error}")
            return
        state_dir = stack_outputs.state_dir(config, self.get_option("state_dir"))
        outputs_file = stack_outputs.outputs_path(state_dir)
        try:
            outputs = stack_outputs.read(outputs_file)
        except (ValueError, OSError) as error:
            raise AnsibleParserError(f"{outputs_file}: {error}") from error
        if outputs is None:
            return
        for group in ("cluster", "scheduler", "workers", "metrics_host"):
            self.inventory.add_group(group)
        for host in stack_outputs.inventory(outputs, config, state_dir, sys.executable):
            name, hostvars = host["name"], host["vars"]
            for group in host["groups"]:
                self.inventory.add_host(name, group=group)
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
