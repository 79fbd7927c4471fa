#!/usr/bin/python
"""burst.cluster.run_certificates: the TLS CA and certificate of one burst run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: run_certificates
short_description: Make or remove the TLS certificates of one burst run
description:
  - Makes a private certificate authority for one run (an ECDSA P-256 key and a
    self-signed certificate named C(burst <cluster> <run_id>), valid for three days) and
    one key and certificate it signs for the whole cluster, usable by the Dask scheduler,
    the workers and the source alike (extended key usage serverAuth and clientAuth,
    subject alternative names from I(names)).
  - Writes them into the directory I(path) (mode 0700) as C(ca.pem), C(cluster.pem) and
    C(cluster-key.pem) (mode 0600). The CA's key is never written, so no further
    certificate can be signed for the run.
  - Idempotent. Files that exist, verify against their CA and were made for the same
    I(cluster), I(run_id) and I(names), with at least a day of validity left, are kept
    (permissions are corrected if needed); otherwise all three are made anew.
  - "Runs on the controller: use C(delegate_to: localhost) and C(run_once: true) when the
    play targets the cluster's hosts, then copy the files to them."
  - Needs the C(cryptography) Python package, which ansible-core itself requires.
version_added: 0.1.0
author: burst
options:
  path:
    description: The directory that holds the three files.
    type: path
    required: true
  names:
    description:
      - The IP addresses and DNS names of the cluster's hosts, written into the
        certificate's subject alternative names. Required when I(state=present).
      - Dask does not check host names against them (it trusts the run's CA alone), but
        other TLS clients may.
    type: list
    elements: str
  cluster:
    description: The cluster's name, part of the CA's name. Required when I(state=present).
    type: str
  run_id:
    description: The run's id, part of the CA's name. Required when I(state=present).
    type: str
  state:
    description:
      - C(present) makes the files unless valid ones exist.
      - C(absent) removes I(path) with the files in it. It refuses a directory that
        holds other files.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
requirements:
  - cryptography >= 42
"""

EXAMPLES = r"""
- name: Make the run's certificates on the controller
  burst.cluster.run_certificates:
    path: "{{ playbook_dir }}/../.burst/{{ burst_config.name }}/runs/{{ burst_run_id }}/tls"
    cluster: "{{ burst_config.name }}"
    run_id: "{{ burst_run_id }}"
    names: "{{ groups['cluster'] | map('extract', hostvars, 'ansible_host') | list }}"
  delegate_to: localhost
  run_once: true
  register: burst_tls

- name: Remove them when the run is over
  burst.cluster.run_certificates:
    path: "{{ playbook_dir }}/../.burst/{{ burst_config.name }}/runs/{{ burst_run_id }}/tls"
    state: absent
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
path:
  description: The directory.
  returned: always
  type: str
  sample: .burst/demo/runs/20260101T000000Z-ab12/tls
ca_file:
  description: The run's CA certificate, for C(--tls-ca-file).
  returned: always
  type: str
  sample: .burst/demo/runs/20260101T000000Z-ab12/tls/ca.pem
cert_file:
  description: The cluster certificate, for C(--tls-cert).
  returned: always
  type: str
  sample: .burst/demo/runs/20260101T000000Z-ab12/tls/cluster.pem
key_file:
  description: The cluster certificate's private key, for C(--tls-key).
  returned: always
  type: str
  sample: .burst/demo/runs/20260101T000000Z-ab12/tls/cluster-key.pem
reasons:
  description: Why the files were made anew or changed (empty when nothing changed).
  returned: always
  type: list
  elements: str
  sample: ["missing: .burst/demo/runs/20260101T000000Z-ab12/tls/ca.pem"]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from ansible_collections.burst.cluster.plugins.module_utils import run_certificates
except ImportError as error:  # cryptography missing
    run_certificates = None
    IMPORT_ERROR = error
else:
    IMPORT_ERROR = None


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "names": {"type": "list", "elements": "str"},
            "cluster": {"type": "str"},
            "run_id": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        required_if=[("state", "present", ("names", "cluster", "run_id"))],
        supports_check_mode=True,
    )
    if run_certificates is None:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(IMPORT_ERROR))
    params = module.params
    path = params["path"]
    result = {"path": path, **run_certificates.files(path)}
    try:
        if params["state"] == "absent":
            changed = run_certificates.remove(path, module.check_mode)
            module.exit_json(changed=changed, reasons=["removed"] if changed else [], **result)
        outcome = run_certificates.ensure(
            path, params["cluster"], params["run_id"], params["names"], module.check_mode
        )
    except ValueError as problem:
        module.fail_json(msg=str(problem), **result)
    except OSError as problem:
        module.fail_json(msg=f"path: {path!r}: {problem}", **result)
    module.exit_json(changed=outcome.changed, reasons=outcome.reasons, **result)


if __name__ == "__main__":
    main()
