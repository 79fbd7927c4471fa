"""Action plugin of burst.cluster.stack: on the controller, check the config with the loader,
resolve the cluster's state directory, then run the module;
return the hosts for the inventory and where the Dask dashboard is."""

from __future__ import annotations

import sys

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.burst.cluster.plugins.module_utils import stack_outputs
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    ClusterConfigError,
    recheck,
)

display = Display()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        try:
            config = recheck(args.get("config"))
        except ClusterConfigError as error:
            result.update(failed=True, msg=str(error), problems=error.problems)
            return result
        args["state_dir"] = args.get("state_dir") or stack_outputs.state_dir(config)
        result.update(
            self._execute_module(
                module_name="burst.cluster.stack", module_args=args, task_vars=task_vars
            )
        )
        up = args.get("state", "present") == "present" and not self._task.check_mode
        if up and not result.get("failed"):
            outputs = result["outputs"]
            result["hosts"] = stack_outputs.inventory(outputs, args["state_dir"], sys.executable)
            dashboard = stack_outputs.dask_dashboard(outputs, config["ports"]["dashboard"])
            result["dask_dashboard"] = dashboard
            # Shown as is, never folded by a callback, so that the command can be copied whole.
            display.display(f"  Dask dashboard, once the scheduler is up: {dashboard['url']}")
            if dashboard["tunnel"]:
                display.display(f"  through an SSH tunnel: {dashboard['tunnel']}")
        return result
