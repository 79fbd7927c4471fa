#!/usr/bin/python
"""burst.cluster.ports_free: fail at once when a port a run needs on this host is taken."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ports_free
short_description: Check that the ports a burst run needs on a host are free
description:
  - Tries to bind each port on the address, as the run's processes will (with
    C(SO_REUSEADDR), never listening, so no one can connect), and fails naming every port
    that is taken and, where this user can see it, the process that holds it.
  - Run before anything of the run starts on the host, so that a port another program (or
    another cluster) holds fails the run at once instead of when its process cannot listen.
  - The holder is found in C(/proc) (the listening socket's inode, then the process that has
    it open), as C(psutil.net_connections) does; without root a process of another user is
    not named. It needs no package on the host.
version_added: 0.1.0
author: burst (!UNKNOWN)
options:
  address:
    description: The address the run's processes listen on.
    type: str
    required: true
  ports:
    description: The ports, by the name messages give them (C(ports.scheduler)).
    type: dict
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The check changes nothing; it runs in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Linux only (C(/proc)).
"""

EXAMPLES = r"""
- name: Check that the ports are free
  burst.cluster.ports_free:
    address: "{{ burst_private_ip }}"
    ports:
      ports.scheduler: "{{ burst_config.ports.scheduler }}"
      ports.source: "{{ burst_config.ports.source }}"
"""

RETURN = r"""
taken:
  description: Each port that is taken, with the process that holds it when it was found.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: ports.scheduler, port: 8786, address: 127.0.0.1, pid: 1234, process: python3}
msg:
  description: Every port taken, in one line; on success, the ports checked.
  returned: always
  type: str
  sample: ports.scheduler 8786 on 127.0.0.1 is taken by python3 (pid 1234)
"""

import errno
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.burst.cluster.plugins.module_utils import processes


def taken(name: str, address: str, port: int) -> dict | None:
    """Who holds ``port`` on ``address``, or None when a server could listen on it now."""
    found = {"name": name, "port": port, "address": address}
    try:
        addresses = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, where = addresses[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(where)
        return None
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            return dict(found, msg=f"{name} {port} on {address} cannot be used: {error}")
    holders = processes.holders(port)
    if not holders:
        why = "the process holding it could not be found (it may be another user's)"
        return dict(found, msg=f"{name} {port} on {address} is taken; {why}")
    pid, process = holders[0]
    held = f"{name} {port} on {address} is taken by {process} (pid {pid})"
    return dict(found, pid=pid, process=process, msg=held)


def main():
    module = AnsibleModule(
        argument_spec={
            "address": {"type": "str", "required": True},
            "ports": {"type": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    address, ports = module.params["address"], module.params["ports"]
    try:
        checked = {name: int(port) for name, port in ports.items()}
        if not all(0 < port < 65536 for port in checked.values()):
            raise ValueError
    except (TypeError, ValueError):
        module.fail_json(msg=f"ports: {ports!r} — must map names to port numbers from 1 to 65535")
    found = [hold for name, port in checked.items() if (hold := taken(name, address, port))]
    if found:
        module.fail_json(msg="; ".join(hold.pop("msg") for hold in found), taken=found)
    shown = ", ".join(f"{name} {port}" for name, port in checked.items())
    module.exit_json(changed=False, taken=[], msg=f"free on {address}: {shown}")


if __name__ == "__main__":
    main()
