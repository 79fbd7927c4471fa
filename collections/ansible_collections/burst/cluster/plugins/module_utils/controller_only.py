"""main() of a burst.cluster module whose work is done by its action plugin: reached as a
module, the action plugin was bypassed, and it fails saying so."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule


def bypassed(name: str, argument_spec: dict, **rules) -> None:
    module = AnsibleModule(argument_spec=argument_spec, **rules)
    module.fail_json(
        msg=f"burst.cluster.{name} works through its action plugin;"
        " it was reached as a module, so the action plugin was bypassed"
    )
