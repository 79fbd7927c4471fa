"""ansible-lint with the production profile passes over the repository's Ansible content.

The roles with their molecule scenarios, the playbooks, the collection's meta and
galaxy.yml; what is linted and what is excluded is in .ansible-lint at the root.
"""

import os

import pytest
from conftest import BIN, REPO, ansible

pytestmark = pytest.mark.slow


def test_ansible_lint_production_profile_passes(tmp_path):
    done = ansible(
        "ansible-lint",
        "--profile",
        "production",
        "--offline",
        "--nocolor",
        cwd=REPO,
        timeout=300,
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        ANSIBLE_HOME=tmp_path / "ansible-home",
        ANSIBLE_LOCAL_TEMP=tmp_path / "ansible-tmp",
        NO_COLOR=1,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Profile 'production' was required, and it passed" in done.stdout + done.stderr
