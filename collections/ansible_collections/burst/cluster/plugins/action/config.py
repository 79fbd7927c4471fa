"""Action plugin of burst.cluster.config: load and validate a cluster file on the controller."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    ClusterConfigError,
    load_cluster_file,
    longest_run_seconds,
)
from ansible_collections.burst.cluster.plugins.modules.config import ARGUMENT_SPEC


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            config = load_cluster_file(args["path"], args["overrides"])
        except ClusterConfigError as exc:
            result.update(failed=True, msg=str(exc), problems=exc.problems)
            return result
        result.update(
            changed=False, config=config, longest_run_minutes=-(-longest_run_seconds(config) // 60)
        )
        return result
