"""Action plugin of burst.cluster.record_run: add what sizing reads to a run's manifest."""

from __future__ import annotations

import json
import os
import time

from ansible_collections.burst.cluster.plugins.module_utils import run_history, sizing
from ansible_collections.burst.cluster.plugins.module_utils.stack_outputs import host_plan
from ansible_collections.burst.cluster.plugins.modules.record_run import ARGUMENT_SPEC
from ansible_collections.burst.cluster.plugins.plugin_utils.controller_action import (
    ControllerAction,
)


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    _supports_check_mode = False

    def act(self, args, result):
        config = args["config"]
        path = os.path.join(config["results"]["dir"], args["run_id"], run_history.MANIFEST)
        try:
            started = float(args["controller"].rpartition("@")[2])
        except ValueError:
            result.update(
                failed=True, msg=f"controller: {args['controller']!r} — must be PID@CREATE_TIME"
            )
            return result
        wall = time.time() - started
        try:
            with open(path, encoding="utf-8") as handle:
                manifest = json.load(handle)
        except FileNotFoundError:
            result.update(changed=False, msg=f"no manifest at {path}: nothing to record")
            return result
        except (OSError, ValueError) as error:
            result.update(changed=False, warnings=[f"cannot record the run in {path}: {error}"])
            return result
        cost = sizing.run_cost_usd(config, config["size"], wall)
        manifest.update(
            run_history.record(
                config,
                args["run_id"],
                len(host_plan(config)),
                wall,
                cost,
                args["failures"],
                args["predicted"],
            )
        )
        partial = f"{path}.partial"
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2)
        os.replace(partial, path)
        result.update(changed=True, wall_seconds=manifest["wall_seconds"], cost=cost, path=path)
        return result
