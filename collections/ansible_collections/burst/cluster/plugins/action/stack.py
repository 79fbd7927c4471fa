"""Action plugin of burst.cluster.stack: on the controller, check the config with the loader,
resolve the cluster's state directory, then have the cluster's provider bring the stack up or
down (the module's ``run``, in this process: a provider is found by its name), making the
cluster's SSH key with community.crypto.openssh_keypair for a provider whose machines take
one; return the hosts for the inventory and where the Dask dashboard is."""

from __future__ import annotations

import os
import sys

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.burst.cluster.plugins.module_utils import stack_outputs
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    ClusterConfigError,
    recheck,
)
from ansible_collections.burst.cluster.plugins.modules.stack import ARGUMENT_SPEC, run

display = Display()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        try:
            config = recheck(self._task.args.get("config"))
        except ClusterConfigError as error:
            result.update(failed=True, msg=str(error), problems=error.problems)
            return result
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        args["state_dir"] = args["state_dir"] or stack_outputs.state_dir(config)
        make_ssh_key = self._ssh_key_maker(task_vars)
        result.update(run({**args, "config": config}, self._task.check_mode, make_ssh_key))
        up = args.get("state", "present") == "present" and not self._task.check_mode
        if up and not result.get("failed"):
            outputs = result["outputs"]
            result["hosts"] = stack_outputs.inventory(
                outputs, config, args["state_dir"], sys.executable
            )
            dashboard = stack_outputs.dask_dashboard(outputs, config["ports"]["dashboard"])
            result["dask_dashboard"] = dashboard
            # Shown as is, never folded by a callback, so that the command can be copied whole.
            display.display(f"  Dask dashboard, once the scheduler is up: {dashboard['url']}")
            if dashboard["tunnel"]:
                display.display(f"  through an SSH tunnel: {dashboard['tunnel']}")
        return result

    def _ssh_key_maker(self, task_vars):
        """``make_ssh_key(path, comment)`` for the provider: community.crypto.openssh_keypair
        on the controller, outside check mode too, as a preview needs the public key."""

        def make_ssh_key(path: str, comment: str) -> dict:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            check_mode, self._task.check_mode = self._task.check_mode, False
            try:
                return self._execute_module(
                    module_name="community.crypto.openssh_keypair",
                    module_args={
                        "path": path,
                        "type": "ed25519",
                        "comment": comment,
                        "mode": "0600",
                    },
                    task_vars=task_vars,
                )
            finally:
                self._task.check_mode = check_mode

        return make_ssh_key
