"""Action plugin of burst.cluster.app_install: one shell command on the host, with a file of
the controller on its standard input, through the connection alone."""

from __future__ import annotations

import re
import shlex

from ansible.plugins.action import ActionBase
from ansible_collections.burst.cluster.plugins.modules.app_install import ARGUMENT_SPEC

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False  # the file goes on stdin: no remote temporary directory to make
    _supports_async = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if bad := [key for key in args["env"] if not NAME.fullmatch(key)]:
            return {**result, "failed": True, "msg": f"env: {bad[0]!r} is not a variable name"}
        if self._task.check_mode:
            return {**result, "changed": True}
        with open(self._find_needle("files", args["src"]), "rb") as src:
            data = src.read()
        prefix = shlex.quote(args["prefix"])
        env = " ".join(f"{key}={shlex.quote(str(value))}" for key, value in args["env"].items())
        command = (
            f"mkdir -p -- {prefix} && cd {prefix} && {env} sh -c {shlex.quote(args['script'])}"
        )
        rc, out, err = self._connection.exec_command(command, in_data=data, sudoable=False)
        out, err = (text.decode(errors="replace").strip() for text in (out, err))
        if rc != 0:
            return {
                **result,
                "failed": True,
                "rc": rc,
                "stdout": out,
                "stderr": err,
                "msg": f"the install on the host exited with status {rc}: {err or out}",
            }
        return {**result, "changed": True, "rc": rc, "stdout": out, "stderr": err}
