"""Action plugin of burst.cluster.sizing: predict a run's time size by size, on the controller."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.burst.cluster.plugins.module_utils import sizing
from ansible_collections.burst.cluster.plugins.modules.sizing import ARGUMENT_SPEC


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
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
