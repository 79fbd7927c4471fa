"""The base of burst.cluster's action plugins that run on the controller alone: no host to
connect to, no file to send, never asynchronous, and the task's arguments checked against the
argument spec of the module of the same name."""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ControllerAction(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_async = False
    ARGUMENT_SPEC: dict = {}
    SPEC_RULES: dict = {}  # required_if, required_one_of, … as the module declares them

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC, **self.SPEC_RULES)
        return self.act(args, result)

    def act(self, args: dict, result: dict) -> dict:
        """The task's result, from its checked ``args`` and ActionBase's ``result``."""
        raise NotImplementedError
