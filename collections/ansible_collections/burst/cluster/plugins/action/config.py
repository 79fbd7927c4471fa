"""Action plugin of burst.cluster.config: load and validate a cluster file on the controller."""

from __future__ import annotations

from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    ClusterConfigError,
    load_cluster_file,
    longest_run_seconds,
)
from ansible_collections.burst.cluster.plugins.modules.config import ARGUMENT_SPEC
from ansible_collections.burst.cluster.plugins.plugin_utils.controller_action import (
    ControllerAction,
)


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    _supports_check_mode = True

    def act(self, args, result):
        try:
            config = load_cluster_file(args["path"], args["overrides"])
        except ClusterConfigError as exc:
            result.update(failed=True, msg=str(exc), problems=exc.problems)
            return result
        result.update(
            changed=False, config=config, longest_run_minutes=-(-longest_run_seconds(config) // 60)
        )
        return result
