"""Role burst.cluster.certificates: a run's CA and cluster certificate, made with community.crypto,
kept and removed.

The role runs for real on this machine (connection local), as site.yml runs it; the files are
then read with cryptography and used for TLS handshakes through classifier.tls, as every link
of a run uses them.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import ssl
import stat
import sys
from pathlib import Path

import pytest
from conftest import REPO, ansible
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from classifier.tls import Tls

pytestmark = pytest.mark.slow

NAMES = ["10.77.0.2", "10.77.0.3", "scheduler.burst.internal", "::1"]
RUN = {"certificates_cluster": "nightly-csv", "certificates_run_id": "20260101T000000Z-ab12"}
PLAYBOOK = """\
- name: Run the role burst.cluster.certificates
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The role's {tasks} tasks
      ansible.builtin.include_role:
        name: burst.cluster.certificates
        tasks_from: {tasks}
"""


def role(tmp_path: Path, tasks: str = "main", *options: str, **variables) -> str:
    """ansible-playbook's output (-vvv) for the role's ``tasks``; fails the test if it fails."""
    playbook = tmp_path / f"{tasks}.yml"
    playbook.write_text(PLAYBOOK.format(tasks=tasks))
    done = role_run(tmp_path, playbook, *options, **variables)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def role_run(tmp_path, playbook, *options, **variables):
    variables.setdefault("ansible_python_interpreter", sys.executable)
    return ansible(
        "ansible-playbook",
        playbook,
        "-vvv",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        json.dumps(variables),
        *options,
        cwd=tmp_path,
        ANSIBLE_COLLECTIONS_PATH=REPO / "collections",
        ANSIBLE_LOCAL_TEMP=tmp_path / "ansible-local",
        ANSIBLE_REMOTE_TEMP=tmp_path / "ansible-remote",
    )


def make(tmp_path: Path, path: Path, *options: str, **variables) -> str:
    return role(
        tmp_path,
        "main",
        *options,
        certificates_dir=str(path),
        certificates_names=NAMES,
        **RUN,
        **variables,
    )


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _snapshot(path: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(path.iterdir())}


def _recap_changed(output: str) -> int:
    return int(re.search(r"localhost\s*: ok=\d+\s+changed=(\d+)", output).group(1))


def _handshake(server: Tls, client: Tls, hostname: str) -> None:
    """A TLS handshake in memory between the contexts the data links use."""
    server_in, server_out, client_in, client_out = (ssl.MemoryBIO() for _ in range(4))
    ends = [
        server.server_context().wrap_bio(server_in, server_out, server_side=True),
        client.client_context().wrap_bio(client_in, client_out, server_hostname=hostname),
    ]
    done = set()
    for _ in range(5):
        for end in ends:
            try:
                end.do_handshake()
                done.add(end)
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
    assert len(done) == 2, "the handshake did not finish"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The run's files, and ansible-playbook's output while it made them."""
    work = tmp_path_factory.mktemp("certificates")
    path = work / "state" / "runs" / RUN["certificates_run_id"] / "tls"
    return path, make(work, path), work


def test_makes_the_three_files_with_private_modes_and_never_writes_the_ca_key(made):
    path, output, work = made
    assert sorted(p.name for p in path.iterdir()) == ["ca.pem", "cluster-key.pem", "cluster.pem"]
    assert (_mode(path), _mode(path / "cluster-key.pem")) == (0o700, 0o600)
    assert (_mode(path / "ca.pem"), _mode(path / "cluster.pem")) == (0o644, 0o644)
    assert b"PRIVATE KEY" in (path / "cluster-key.pem").read_bytes()
    assert [p for p in work.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()] == [
        path / "cluster-key.pem"
    ]
    # The modules that take the CA's key get their arguments on stdin, never as a file.
    ca_key_tasks = output[output.index("Make the key of the run's certificate authority") :]
    assert " PUT " not in ca_key_tasks
    assert ca_key_tasks.count("Pipelining is enabled.") == 5
    assert "PRIVATE KEY" not in output


def test_the_certificate_is_the_run_cas_for_the_names_given(made):
    path, _, _ = made
    ca = x509.load_pem_x509_certificate((path / "ca.pem").read_bytes())
    cert = x509.load_pem_x509_certificate((path / "cluster.pem").read_bytes())
    key = serialization.load_pem_private_key((path / "cluster-key.pem").read_bytes(), None)
    assert ca.subject.rfc4514_string() == "CN=burst nightly-csv 20260101T000000Z-ab12"
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert (constraints.ca, constraints.path_length) == (True, 0)  # it signs no other CA
    cert.verify_directly_issued_by(ca)
    assert cert.issuer == ca.subject
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "burst nightly-csv"
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(der, spki) == cert.public_key().public_bytes(der, spki)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address(n) for n in ("10.77.0.2", "10.77.0.3", "::1")
    ]
    assert sans.get_values_for_type(x509.DNSName) == ["scheduler.burst.internal"]
    now = datetime.datetime.now(datetime.UTC)
    for certificate in (ca, cert):
        assert certificate.not_valid_before_utc < now - datetime.timedelta(minutes=50)
        lifetime = certificate.not_valid_after_utc - now
        assert datetime.timedelta(days=2) < lifetime <= datetime.timedelta(days=3)


def test_the_links_take_the_files_for_the_names_given_and_refuse_other_names(made):
    path, _, _ = made
    run = Tls(str(path / "ca.pem"), str(path / "cluster.pem"), str(path / "cluster-key.pem"))
    for name in NAMES:
        _handshake(run, run, name)
    with pytest.raises(ssl.SSLCertVerificationError, match="10.77.0.9"):
        _handshake(run, run, "10.77.0.9")


def test_a_second_run_changes_nothing(made):
    path, _, work = made
    before = _snapshot(path)
    assert _recap_changed(make(work, path)) == 0
    assert _snapshot(path) == before


def test_another_run_gets_another_ca(made, tmp_path):
    path, _, _ = made
    other = tmp_path / "tls"
    make(tmp_path, other)
    run = Tls(str(path / "ca.pem"), str(path / "cluster.pem"), str(path / "cluster-key.pem"))
    stranger = Tls(
        str(other / "ca.pem"), str(other / "cluster.pem"), str(other / "cluster-key.pem")
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(run, stranger, NAMES[0])


def test_check_mode_writes_nothing(tmp_path):
    path = tmp_path / "runs" / "r" / "tls"
    make(tmp_path, path, "--check")
    assert not (tmp_path / "runs").exists()


def test_remove_takes_the_files_and_the_run_directory_once_empty(tmp_path):
    runs = tmp_path / "runs"
    for run_id in ("a", "b"):
        make(tmp_path, runs / run_id / "tls")
    (runs / "b" / "notes.txt").write_text("not the role's")
    role(tmp_path, "remove", certificates_dir=str(runs / "a" / "tls"))
    role(tmp_path, "remove", certificates_dir=str(runs / "b" / "tls"))
    assert [p.name for p in runs.iterdir()] == ["b"]
    assert [p.name for p in (runs / "b").iterdir()] == ["notes.txt"]
    assert _recap_changed(role(tmp_path, "remove", certificates_dir=str(runs / "a" / "tls"))) == 0


def test_missing_names_fail_naming_the_option(tmp_path):
    playbook = tmp_path / "main.yml"
    playbook.write_text(PLAYBOOK.format(tasks="main"))
    done = role_run(tmp_path, playbook, certificates_dir=str(tmp_path / "tls"), **RUN)
    assert done.returncode != 0
    assert "certificates_names" in done.stdout
    assert not (tmp_path / "tls").exists()
