"""Action plugin of burst.cluster.sizing: predict a run's time size by size, on the controller."""

from __future__ import annotations

from ansible_collections.burst.cluster.plugins.module_utils import sizing
from ansible_collections.burst.cluster.plugins.modules.sizing import ARGUMENT_SPEC
from ansible_collections.burst.cluster.plugins.plugin_utils.controller_action import (
    ControllerAction,
)


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    _supports_check_mode = True

    def act(self, args, result):
        config = args["config"]
        try:
            planned = sizing.plan(config)
        except (sizing.SizingError, OSError, ValueError) as error:
            if config["size"] == "auto":
                result.update(failed=True, msg=f"sizing: {error}")
                return result
            result.update(
                changed=False,
                config=config,
                sized=False,
                warnings=[f"sizing: no prediction for this run: {error}"],
                msg=[f"no sizing table: {error}"],
            )
            return result
        rows = f"{planned['rows']} rows ({planned['rows_counted']})"
        auto = " (size: auto)" if config["size"] == "auto" else ""
        result.update(
            changed=False,
            config={**config, "size": planned["size"]},
            sized=True,
            msg=[
                f"size {planned['size']}{auto} for {rows}; {planned['model']}",
                *sizing.table_text(config, planned),
                *planned["notes"],
            ],
            warnings=planned["warnings"],
            **{key: planned[key] for key in ("table", "predicted", "rows", "runs", "model")},
            sizing_warnings=planned["warnings"],
        )
        return result
