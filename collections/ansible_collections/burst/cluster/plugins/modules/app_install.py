#!/usr/bin/python
"""Documentation of burst.cluster.app_install; the work is done by the action plugin of the same
name."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: app_install
short_description: Install the burst app on a host from a file the controller streams to it
description:
  - Runs O(script) on the host with C(/bin/sh), in O(prefix) (made when missing), with O(env)
    in its environment and the controller's file O(src) on its standard input.
  - "That is the whole exchange with the host: one command over the connection, no file
    written but what the script writes, no Python module run on the host. For the app's
    tree, M(ansible.builtin.copy) and a separate unpacking task cost a fresh host several
    round trips, a copy of the file on its disk, and the time of each step in turn rather
    than the transfer and the unpacking together."
  - Always reports a change, as the script is run; the role runs it when the host lacks the
    bundle.
version_added: 0.1.0
author: burst (!UNKNOWN)
options:
  src:
    description: The file on the controller that the script reads on its standard input.
    type: path
    required: true
  prefix:
    description: The directory on the host the script runs in; made when missing.
    type: str
    required: true
  script:
    description: The C(/bin/sh) script to run on the host.
    type: str
    required: true
  env:
    description: Environment variables of the script; their names must be shell names.
    type: dict
    default: {}
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    support: full
    description: Runs as an action plugin, through the host's connection.
  async:
    support: none
    description: The transfer is the controller's, so it cannot run in the background.
  check_mode:
    support: full
    description: In check mode it reports a change, and sends and runs nothing.
  diff_mode:
    support: none
    description: No diff is shown.
  platform:
    platforms: posix
    description: The host needs C(/bin/sh).
notes:
  - No become, and the connection must take standard input (C(ssh) and C(local) do).
  - O(src) is read into the controller's memory whole.
"""

EXAMPLES = r"""
- name: Send the app and unpack it into a new virtual environment
  burst.cluster.app_install:
    src: .burst/bundles/burst-app-5f0c1e2d3a4b5c6d/cp311-x86_64-glibc2.36.tar.gz
    prefix: /home/ubuntu/burst/app
    script: |-
      set -eu
      rm -rf venv && python3 -m venv --without-pip venv
      tar -xzf - -C "venv/lib/python3.11/site-packages"
"""

RETURN = r"""
stdout:
  description: What the script wrote to its standard output.
  returned: when the script ran
  type: str
stderr:
  description: What the script wrote to its standard error.
  returned: when the script ran
  type: str
"""

from ansible_collections.burst.cluster.plugins.module_utils.controller_only import (  # noqa: E402
    bypassed,
)

ARGUMENT_SPEC = {
    "src": {"type": "path", "required": True},
    "prefix": {"type": "str", "required": True},
    "script": {"type": "str", "required": True},
    "env": {"type": "dict", "default": {}},
}


def main():
    bypassed("app_install", ARGUMENT_SPEC, supports_check_mode=True)


if __name__ == "__main__":
    main()
