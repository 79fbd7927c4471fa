"""A run's TLS files made outside a playbook, for tests and benchmarks: the role
burst.cluster.certificates, which site.yml runs, run by ansible-playbook on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

# the directory that holds ansible_collections/burst/cluster
COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 5))
PLAY = """
- name: Make a run's certificates
  hosts: localhost
  gather_facts: false
  roles: [burst.cluster.certificates]
"""


def files(path: str) -> dict[str, str]:
    """The three file paths under directory ``path``."""
    names = {"ca_file": "ca.pem", "cert_file": "cluster.pem", "key_file": "cluster-key.pem"}
    return {field: os.path.join(path, name) for field, name in names.items()}


def ensure(path: str, cluster: str, run_id: str, names: list[str]) -> dict[str, str]:
    """Make the run's files under ``path`` unless they exist; their paths."""
    variables = {
        "certificates_dir": os.path.abspath(path),
        "certificates_names": list(names),
        "certificates_cluster": cluster,
        "certificates_run_id": run_id,
        "ansible_python_interpreter": sys.executable,
    }
    with tempfile.TemporaryDirectory(prefix="burst-certificates-") as work:
        playbook = os.path.join(work, "certificates.yml")
        with open(playbook, "w", encoding="utf-8") as stream:
            stream.write(PLAY)
        config = os.path.join(work, "ansible.cfg")  # none of the caller's
        open(config, "w").close()
        done = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), playbook]
            + ["-i", "localhost,", "-c", "local", "-e", json.dumps(variables)],
            env=dict(
                os.environ,
                ANSIBLE_CONFIG=config,
                ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
                ANSIBLE_LOCAL_TEMP=work,
            ),
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"the certificates role failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
        )
    return files(path)
