"""Run an Ansible module's main() in-process, as ansible-core's own unit tests do."""

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    """Carries what the module passed to exit_json or fail_json."""


def runner(monkeypatch, main):
    """``run(check_mode=False, **args)`` → the result of ``main``, with ``failed`` set."""

    def exit_json(self, **result):
        raise ModuleExit(dict(result, failed=False))

    def fail_json(self, msg, **result):
        raise ModuleExit(dict(result, msg=msg, failed=True))

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def run(check_mode: bool = False, **args):
        if check_mode:
            args["_ansible_check_mode"] = True
        with patch_module_args(args), pytest.raises(ModuleExit) as info:
            main()
        return info.value.args[0]

    return run
