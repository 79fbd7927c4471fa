"""Action plugin of burst.cluster.report: render the plan of a change or the summary of a run
on the controller, and write it as Markdown; or draw the cluster's runs in history.html."""

from __future__ import annotations

import os
import time

from ansible_collections.burst.cluster.plugins.module_utils import (
    history_charts,
    run_charts,
    run_history,
    run_report,
    sizing,
    stack_outputs,
)
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    ClusterConfigError,
    load_cluster_file,
)
from ansible_collections.burst.cluster.plugins.plugin_utils.controller_action import (
    ControllerAction,
)

ARGUMENT_SPEC = {
    "kind": {"type": "str", "required": True, "choices": ["plan", "run", "history"]},
    "cluster_file": {"type": "path"},
    "overrides": {"type": "dict", "default": {}},
    "base_file": {"type": "path"},
    "changes": {"type": "dict"},
    "config": {"type": "dict"},
    "run_id": {"type": "str"},
    "manifest": {"type": "dict", "default": {}},
    "failures": {"type": "list", "elements": "str", "default": []},
    "dest": {"type": "path"},
    "append_to": {"type": "path"},
    "marks": {"type": "list", "elements": "dict", "default": []},
    "sizing": {"type": "dict", "default": {}},
}
REQUIRED_BY_KIND = {
    "plan": ("cluster_file",),
    "run": ("config", "run_id"),
    "history": ("config",),
}


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    SPEC_RULES = dict(
        required_if=[("kind", kind, names) for kind, names in REQUIRED_BY_KIND.items()]
    )
    _supports_check_mode = True

    def act(self, args, result):
        if args["kind"] == "history":
            return _history(args, result)
        if args["kind"] == "plan":
            after = _load(args["cluster_file"], args["overrides"])
            if isinstance(after, dict):
                state = stack_outputs.state_dir(after)
            else:  # no name to keep it under
                state = stack_outputs.state_root(os.path.dirname(args["cluster_file"]))
            dest = args["dest"] or os.path.join(state, "plan.md")
            base = _load(args["base_file"]) if args["base_file"] else run_report.NOT_COMPARED
            if base is None:
                result["warnings"] = [
                    f"base_file: there is no {args['base_file']} (BASE=); the plan calls the"
                    " cluster file new"
                ]
            if isinstance(after, dict) and after["size"] == "auto":
                after = sizing.sized(after, args["sizing"])
            markdown = run_report.plan_comment(
                after,
                base,
                args["changes"],
                args["failures"],
                base_name=args["base_file"] and _shown(args["base_file"]),
                sizing=sizing.plan_lines(after, args["sizing"]) if isinstance(after, dict) else (),
                charts=_run_times(after) if isinstance(after, dict) else (),
            )
        else:
            run_dir = os.path.join(args["config"]["results"]["dir"], args["run_id"])
            dest = args["dest"] or os.path.join(run_dir, "summary.md")
            now = time.time()
            started = run_report.run_started(args["run_id"])
            cost = run_report.run_cost(args["config"], run_report.load_prices())
            result.update(
                wall_seconds=None if started is None else round(now - started),
                cost=0 if cost is None else cost.get("per_run"),
            )
            charts, problems = _charts(run_dir, args, now, result)
            markdown = run_report.run_summary(
                args["config"],
                args["run_id"],
                args["manifest"],
                args["failures"],
                now=now,
                charts=run_charts.summary_blocks(charts) + _run_times(args["config"]),
                sizing=sizing.summary_lines(args["manifest"], args["sizing"]),
            )
            if problems:
                result["warnings"] = problems
        try:
            _write(dest, markdown, "w")
            if args["append_to"]:
                _write(args["append_to"], markdown, "a")
        except OSError as error:
            result.setdefault("warnings", []).append(
                f"cannot write the {args['kind']} report: {error}"
            )
        result.update(changed=True, markdown=markdown, dest=dest)
        return result


def _history(args, result):
    """history.html in results.dir, from every run read."""
    config = args["config"]
    dest = args["dest"] or os.path.join(config["results"]["dir"], history_charts.PAGE)
    history = history_charts.read(config)
    try:
        _write(dest, history_charts.page(config, history), "w")
    except (OSError, ImportError) as error:
        result.update(failed=True, msg=f"cannot write {dest}: {error}")
        return result
    runs = len(history.runs)
    said = (
        f"{dest}: {runs} run(s) of {config['name']}"
        if runs
        else f"{dest}: no run of {config['name']} in {history_charts.places(config)} yet"
    )
    result.update(
        changed=True, dest=dest, runs=runs, notes=history.notes, msg=[said, *history.notes]
    )
    return result


def _run_times(config):
    """The Mermaid chart of the cluster's last runs' times, if it has any."""
    history = run_history.read_history(config, limit=history_charts.MERMAID_RUNS)
    block = history_charts.mermaid_run_times(history.runs, config)
    return [block] if block else []


def _charts(run_dir, args, now, result):
    """The run's timeline.json and report.html, and Dask's report moved beside them; the
    timeline, and what could not be written."""
    problems, found = [], run_charts.find_batches(run_dir)
    manifest = dict(args["manifest"])
    manifest.setdefault("wall_seconds", result["wall_seconds"])
    data = run_charts.timeline(
        args["run_id"],
        manifest,
        run_charts.read_batches(found) if found else [],
        args["marks"],
        now,
        result["cost"],
        args["failures"],
    )
    if found and os.path.isfile(os.path.join(os.path.dirname(found), run_charts.DASK_REPORT)):
        dask_report = os.path.join(os.path.dirname(found), run_charts.DASK_REPORT)
        try:
            os.replace(dask_report, os.path.join(run_dir, run_charts.DASK_REPORT))
        except OSError as error:
            problems.append(f"cannot move {run_charts.DASK_REPORT} to {run_dir}: {error}")
    data["dask_report"] = os.path.isfile(os.path.join(run_dir, run_charts.DASK_REPORT))
    title = f"burst run {args['run_id']} of {args['config']['name']}: {data['outcome']}"
    try:
        _write(os.path.join(run_dir, "timeline.json"), run_charts.dumps(data), "w")
        _write(os.path.join(run_dir, "report.html"), run_charts.page(data, title), "w")
    except (OSError, ImportError) as error:
        problems.append(f"cannot write the run's report.html or timeline.json: {error}")
    return data, problems


def _load(path, overrides=None):
    """The config of the cluster file at ``path``; the loader's message when it does not load;
    None when there is no such file (a cluster file new in the change)."""
    if not os.path.exists(path):
        return None
    try:
        return load_cluster_file(path, overrides)
    except ClusterConfigError as error:
        label = error.file.replace(os.path.abspath(path), _shown(path))
        return str(ClusterConfigError(error.problems, label))


def _shown(path):
    """A comment shows the path inside the repository, never the runner's directories."""
    shown = os.path.relpath(path)
    return os.path.basename(path) if shown.startswith("..") else shown


def _write(path, text, mode):
    """Appends, or writes whole or not at all: a full disk leaves no empty report behind."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if mode == "a":
        with open(path, mode, encoding="utf-8") as handle:
            handle.write(text + "\n")
        return
    partial = f"{path}.partial"
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
