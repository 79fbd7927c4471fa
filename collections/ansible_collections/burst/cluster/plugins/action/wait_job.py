"""Action plugin of burst.cluster.wait_job: poll the run and show its progress as it goes."""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()
# Seconds to wait, after a watched process has exited with an error, for the receiver to
# report why the run failed: the sender's error is often only the effect.
EXIT_GRACE = 3.0


def progress_line(host: str, progress: dict, total: int | None, now: float) -> str:
    done = progress.get("rows_out", 0) + progress.get("rows_rejected", 0)
    elapsed = max(now - progress.get("started_at", now), 1e-9)
    total = progress.get("rows_in") or total
    of = f"/{total} ({100 * done / total:.0f} %)" if total else ""
    return f"{host}: {done}{of} rows, {done / elapsed:,.0f} rows/s, {elapsed:.0f} s"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(
            argument_spec={
                "progress": {"type": "path", "required": True},
                "pidfiles": {"type": "dict", "default": {}},
                "exit_files": {"type": "dict", "default": {}},
                "timeout": {"type": "float", "required": True},
                "total_rows": {"type": "int"},
                "poll": {"type": "float", "default": 1.0},
            }
        )
        host = task_vars.get("inventory_hostname", "?")
        deadline = time.monotonic() + args["timeout"]
        shown, exited_at = None, None
        while True:
            status = self._execute_module(
                module_name="burst.cluster.job_status",
                module_args={
                    **{key: args[key] for key in ("progress", "pidfiles", "exit_files")},
                    "wait": max(0.0, min(args["poll"], deadline - time.monotonic())),
                },
                task_vars=task_vars,
            )
            if status.get("failed"):
                return dict(result, failed=True, msg=f"job status: {status.get('msg')}")
            progress = status["progress"]
            state = progress.get("state")
            line = progress_line(host, progress, args["total_rows"], time.time())
            if state in ("running", "done") and line != shown:
                display.display(f"  {line}")
                shown = line
            if state == "done":
                return dict(result, changed=False, progress=progress, msg=line)
            if state == "failed":
                return dict(
                    result,
                    failed=True,
                    progress=progress,
                    msg=f"the run failed: {progress.get('error')}",
                )
            # a dead process is the cause; a sender that then lost the source only follows
            if status["dead"]:
                return dict(
                    result,
                    failed=True,
                    progress=progress,
                    msg=f"{', '.join(status['dead'])} died before the run finished",
                )
            if status["exited"]:
                exited_at = exited_at or time.monotonic()
                if time.monotonic() - exited_at < EXIT_GRACE:
                    continue  # the receiver is likely about to report the cause
                return dict(
                    result,
                    failed=True,
                    progress=progress,
                    msg="; ".join(
                        f"{name} exited with status {end['status']}: {end['error']}"
                        for name, end in sorted(status["exited"].items())
                    ),
                )
            if time.monotonic() > deadline:
                return dict(
                    result,
                    failed=True,
                    progress=progress,
                    msg=f"job.timeout: the run did not finish within {args['timeout']:g} s"
                    f" ({line})",
                )
