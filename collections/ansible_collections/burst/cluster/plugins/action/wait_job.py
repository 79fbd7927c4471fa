"""Action plugin of burst.cluster.wait_job: poll the run and show its progress as it goes."""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.burst.cluster.plugins.modules.job_status import watch
from ansible_collections.burst.cluster.plugins.modules.wait_job import ARGUMENT_SPEC

display = Display()
# Seconds to wait, after a watched process has exited or the receiver has reported the run
# failed, for the other side to say why: the first cause is named first, its effects after.
EXIT_GRACE = 3.0
GRACE_LOOK = 0.1  # seconds between looks within the grace: a look on the controller is instant
PEER_LOST_STATUS = 3  # python -m classifier's status for "my peer refused me or went away"


def done_problem(progress: dict, status: dict, args: dict) -> str | None:
    """Why a run the receiver reports done is not a success, or None; "" while a component
    that must end with 0 is still running."""
    if status["exited"]:
        return _exits(status["exited"])
    if set(args["exit_files"]) - set(status["finished"]):
        return ""
    rows_in = progress.get("rows_in")
    if args["total_rows"] is not None and rows_in != args["total_rows"]:
        return (
            f"the source declares {args['total_rows']} rows (source.rows) but {rows_in} came in:"
            " the run did not classify its own rows"
        )
    if args["tallied"] and not (progress.get("input") or {}).get("tallied"):
        return (
            "the source did not check the sender's tally of the rows it sent;"
            " the rows classified cannot be shown to be the input's"
        )
    return None


def causes(status: dict) -> list[str]:
    """What failed on its own: components killed, and those that exited with an error other
    than losing their peer."""
    own = {n: e for n, e in status["exited"].items() if e["status"] != PEER_LOST_STATUS}
    dead = [f"{name} died before the run finished" for name in status["dead"]]
    return dead + ([_exits(own)] if own else [])


def first_cause_first(status: dict, consequence: str) -> str:
    return "; then ".join([*causes(status), consequence])


def _exits(exited: dict) -> str:
    return "; ".join(
        f"{name} exited with status {end['status']}: {end['error']}"
        for name, end in sorted(exited.items())
    )


def gaps(poll: float):
    """Seconds between looks at the run: ``poll`` ÷ 8 first, doubling up to ``poll``."""
    gap = poll / 8
    while True:
        yield gap
        gap = min(2 * gap, poll)


def progress_line(
    host: str, progress: dict, total: int | None, now: float, since: float | None = None
) -> str:
    """Rows done, their rate since the input started, the time since ``since`` (the
    earliest start seen: the receiver's, until the source says when the input started) and,
    with a total and a rate, the time left at that rate."""
    done = progress.get("rows_out", 0) + progress.get("rows_rejected", 0)
    rate = done / max(now - progress.get("started_at", now), 1e-9)
    elapsed = now - (progress.get("started_at", now) if since is None else since)
    total = progress.get("rows_in") or total
    of = f"/{total} ({100 * done / total:.0f} %)" if total else ""
    eta = f", about {(total - done) / rate:.0f} s to go" if total and done < total and rate else ""
    return f"{host}: {done}{of} rows, {rate:,.0f} rows/s, {elapsed:.0f} s{eta}"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = task_vars.get("inventory_hostname", "?")
        deadline = time.monotonic() + args["timeout"]
        shown, ended_at, since = None, None, None
        for gap in gaps(args["poll"]):
            status = self._look(
                {
                    **{key: args[key] for key in ("progress", "pidfiles", "exit_files")},
                    "wait": max(0.0, min(gap, deadline - time.monotonic())),
                },
                task_vars,
            )
            if status.get("failed"):
                return dict(result, failed=True, msg=f"job status: {status.get('msg')}")
            progress = status["progress"]
            state = progress.get("state")
            started_at = progress.get("started_at")
            if started_at is not None:
                since = started_at if since is None else min(since, started_at)
            line = progress_line(host, progress, args["total_rows"], time.time(), since)
            if state in ("running", "done") and line != shown:
                display.display(f"  {line}")
                shown = line
            if state == "done":
                problem = done_problem(progress, status, args)
                if problem is None:
                    return dict(result, changed=False, progress=progress, msg=line)
                ended_at = ended_at or time.monotonic()
                if problem or time.monotonic() - ended_at >= EXIT_GRACE:
                    return dict(
                        result,
                        failed=True,
                        progress=progress,
                        msg=problem or f"{', '.join(args['exit_files'])} did not exit in time",
                    )
                time.sleep(GRACE_LOOK)
                continue
            if state == "failed" or status["dead"] or status["exited"]:
                ended_at = ended_at or time.monotonic()
                running = set(args["exit_files"]) - {*status["finished"], *status["exited"]}
                if state != "failed" and not status["dead"] and not causes(status):
                    running = {"the receiver"}  # a component lost its peer: the receiver says why
                if running - set(status["dead"]) and time.monotonic() - ended_at < EXIT_GRACE:
                    time.sleep(GRACE_LOOK)
                    continue
                if state == "failed":
                    msg = first_cause_first(status, f"the run failed: {progress.get('error')}")
                else:
                    msg = "; then ".join(causes(status) or [_exits(status["exited"])])
                return dict(result, failed=True, progress=progress, msg=msg)
            if time.monotonic() > deadline:
                return dict(
                    result,
                    failed=True,
                    progress=progress,
                    msg=f"job.timeout: the run did not finish within {args['timeout']:g} s"
                    f" ({line})",
                )

    def _look(self, module_args: dict, task_vars: dict) -> dict:
        """burst.cluster.job_status on the host; in this process when the host is the
        controller, where a Python started per look would take its cores from the run."""
        if self._connection.transport != "local":
            return self._execute_module(
                module_name="burst.cluster.job_status", module_args=module_args, task_vars=task_vars
            )
        try:
            return watch(module_args)
        except (OSError, ValueError) as error:
            return {"failed": True, "msg": f"{type(error).__name__}: {error}"}
