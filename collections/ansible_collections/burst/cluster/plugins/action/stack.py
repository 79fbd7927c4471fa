"""Action plugin of burst.cluster.stack: resolve the controller's state directory, then run it."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.burst.cluster.plugins.module_utils import stack_outputs


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        args["state_dir"] = stack_outputs.state_dir(args.get("state_dir"))
        result.update(
            self._execute_module(
                module_name="burst.cluster.stack", module_args=args, task_vars=task_vars
            )
        )
        return result
