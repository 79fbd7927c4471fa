"""burst.cluster.run_certificates: a run's CA and cluster certificate, made, kept and removed."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import stat
from pathlib import Path

import pytest
from ansible_collections.burst.cluster.plugins.module_utils import (
    run_certificates as certs,
)
from ansible_collections.burst.cluster.plugins.modules import run_certificates
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from module_runner import runner

NAMES = ["10.77.0.2", "10.77.0.3", "scheduler.burst.internal", "::1"]
ARGS = {"cluster": "nightly-csv", "run_id": "20260101T000000Z-ab12", "names": NAMES}


@pytest.fixture
def run(monkeypatch):
    return runner(monkeypatch, run_certificates.main)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _load(result):
    ca = x509.load_pem_x509_certificate(Path(result["ca_file"]).read_bytes())
    cert = x509.load_pem_x509_certificate(Path(result["cert_file"]).read_bytes())
    key = serialization.load_pem_private_key(Path(result["key_file"]).read_bytes(), None)
    return ca, cert, key


def _snapshot(path: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(path.iterdir())}


def test_makes_the_three_files_with_private_modes(run, tmp_path):
    path = tmp_path / "tls"
    result = run(path=str(path), **ARGS)
    assert result["failed"] is False, result
    assert result["changed"] is True
    assert result["ca_file"] == str(path / "ca.pem")
    assert result["cert_file"] == str(path / "cluster.pem")
    assert result["key_file"] == str(path / "cluster-key.pem")
    assert sorted(p.name for p in path.iterdir()) == ["ca.pem", "cluster-key.pem", "cluster.pem"]
    assert _mode(path) == 0o700
    assert _mode(result["key_file"]) == 0o600
    assert _mode(result["ca_file"]) == 0o644
    assert _mode(result["cert_file"]) == 0o644
    assert b"PRIVATE KEY" in Path(result["key_file"]).read_bytes()
    assert b"PRIVATE KEY" not in Path(result["ca_file"]).read_bytes()  # the CA key is not kept


def test_the_certificate_verifies_against_the_run_ca(run, tmp_path):
    result = run(path=str(tmp_path / "tls"), **ARGS)
    ca, cert, key = _load(result)

    assert ca.subject.rfc4514_string() == "CN=burst nightly-csv 20260101T000000Z-ab12"
    ca.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    cert.verify_directly_issued_by(ca)
    assert cert.issuer == ca.subject
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    assert key.public_key().public_bytes(der, public) == cert.public_key().public_bytes(der, public)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usage) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}

    now = datetime.datetime.now(datetime.UTC)
    for certificate in (ca, cert):
        assert certificate.not_valid_before_utc < now
        lifetime = certificate.not_valid_after_utc - now
        assert datetime.timedelta(days=2) < lifetime <= datetime.timedelta(days=3)

    # what Python's ssl (and so Dask) makes of them: a context that loads the pair and the CA
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=result["ca_file"])
    context.load_cert_chain(result["cert_file"], result["key_file"])
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "burst nightly-csv 20260101T000000Z-ab12"),),)
    ]


def test_subject_alternative_names_are_the_names_given(run, tmp_path):
    result = run(path=str(tmp_path / "tls"), **ARGS)
    _, cert, _ = _load(result)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(map(str, sans.get_values_for_type(x509.IPAddress))) == sorted(
        ["10.77.0.2", "10.77.0.3", "::1"]
    )
    assert sans.get_values_for_type(x509.DNSName) == ["scheduler.burst.internal"]
    assert ipaddress.ip_address("10.77.0.2") in sans.get_values_for_type(x509.IPAddress)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "burst nightly-csv"


def test_a_second_run_changes_nothing(run, tmp_path):
    path = tmp_path / "tls"
    first = run(path=str(path), **ARGS)
    before = _snapshot(path)
    # the same names in another order, with a duplicate: the same certificate
    again = run(path=str(path), **dict(ARGS, names=[*reversed(NAMES), NAMES[0]]))
    assert again["failed"] is False, again
    assert again["changed"] is False
    assert again["reasons"] == []
    assert {k: again[k] for k in ("ca_file", "cert_file", "key_file")} == {
        k: first[k] for k in ("ca_file", "cert_file", "key_file")
    }
    assert _snapshot(path) == before


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"names": [*NAMES, "10.77.0.4"]}, "the names are"),
        ({"run_id": "20260101T010000Z-cd34"}, "the CA is"),
        ({"cluster": "other"}, "the CA is"),
    ],
    ids=["names", "run_id", "cluster"],
)
def test_other_names_or_another_run_make_new_files(run, tmp_path, change, reason):
    path = tmp_path / "tls"
    run(path=str(path), **ARGS)
    old_ca = (path / "ca.pem").read_bytes()
    result = run(path=str(path), **dict(ARGS, **change))
    assert result["changed"] is True
    assert any(reason in r for r in result["reasons"]), result["reasons"]
    assert (path / "ca.pem").read_bytes() != old_ca
    ca, cert, _ = _load(result)
    cert.verify_directly_issued_by(ca)
    assert run(path=str(path), **dict(ARGS, **change))["changed"] is False


def test_a_tampered_file_is_made_anew(run, tmp_path):
    path = tmp_path / "tls"
    run(path=str(path), **ARGS)
    other = tmp_path / "other"
    run(path=str(other), **ARGS)  # same names, another CA
    (path / "cluster.pem").write_bytes((other / "cluster.pem").read_bytes())
    result = run(path=str(path), **ARGS)
    assert result["changed"] is True
    assert any("not signed by" in r for r in result["reasons"]), result["reasons"]
    ca, cert, _ = _load(result)
    cert.verify_directly_issued_by(ca)


def test_wrong_modes_are_corrected_and_the_files_kept(run, tmp_path):
    path = tmp_path / "tls"
    run(path=str(path), **ARGS)
    content = {p.name: p.read_bytes() for p in path.iterdir()}
    os.chmod(path / "cluster-key.pem", 0o644)
    os.chmod(path, 0o755)
    result = run(path=str(path), **ARGS)
    assert result["changed"] is True
    assert any("cluster-key.pem has mode 0644" in r for r in result["reasons"]), result
    assert _mode(path / "cluster-key.pem") == 0o600
    assert _mode(path) == 0o700
    assert {p.name: p.read_bytes() for p in path.iterdir()} == content


def test_check_mode_reports_and_writes_nothing(run, tmp_path):
    path = tmp_path / "tls"
    result = run(check_mode=True, path=str(path), **ARGS)
    assert result["changed"] is True
    assert not path.exists()
    run(path=str(path), **ARGS)
    before = _snapshot(path)
    assert run(check_mode=True, path=str(path), **ARGS)["changed"] is False
    changed = run(check_mode=True, path=str(path), **dict(ARGS, names=["10.77.0.9"]))
    assert changed["changed"] is True
    assert run(check_mode=True, path=str(path), state="absent")["changed"] is True
    assert _snapshot(path) == before


def test_absent_removes_the_directory(run, tmp_path):
    path = tmp_path / "tls"
    run(path=str(path), **ARGS)
    result = run(path=str(path), state="absent")
    assert result["failed"] is False, result
    assert result["changed"] is True
    assert not path.exists()
    assert run(path=str(path), state="absent")["changed"] is False


def test_absent_removes_the_run_directory_once_empty_and_keeps_other_runs(run, tmp_path):
    state = tmp_path / "state"
    mine, other = (state / "runs" / run_id / "tls" for run_id in ("20260101T000000Z-ab12", "b"))
    for path in (mine, other):
        run(path=str(path), **ARGS)
    (other.parent / "notes.txt").write_text("kept")
    run(path=str(mine), state="absent")
    assert [p.name for p in (state / "runs").iterdir()] == ["b"]
    run(path=str(other), state="absent")
    assert [p.name for p in other.parent.iterdir()] == ["notes.txt"]
    (other.parent / "notes.txt").unlink()
    other.parent.rmdir()
    run(path=str(mine), **ARGS)
    run(path=str(mine), state="absent")
    assert list(state.iterdir()) == []


def test_absent_leaves_a_directory_with_other_files_alone(run, tmp_path):
    path = tmp_path / "tls"
    run(path=str(path), **ARGS)
    (path / "notes.txt").write_text("mine")
    result = run(path=str(path), state="absent")
    assert result["failed"] is True
    assert "notes.txt" in result["msg"]
    assert str(path) in result["msg"]
    assert (path / "ca.pem").exists()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"names": []}, ["names", "[]"]),
        ({"names": ["10.77.0.2", "not a host"]}, ["names", "'not a host'"]),
        ({"cluster": "x" * 60}, ["cluster and run_id", "at most 64"]),
        ({"run_id": "has space"}, ["run_id", "'has space'"]),
    ],
    ids=["no-names", "bad-name", "too-long", "space"],
)
def test_bad_arguments_fail_naming_the_field_and_value(run, tmp_path, change, words):
    path = tmp_path / "tls"
    result = run(path=str(path), **dict(ARGS, **change))
    assert result["failed"] is True
    for word in words:
        assert word in result["msg"], result["msg"]
    assert not path.exists()


def test_present_requires_names_cluster_and_run_id(run, tmp_path):
    result = run(path=str(tmp_path / "tls"), cluster="burst")
    assert result["failed"] is True
    assert "names" in result["msg"] and "run_id" in result["msg"]


def test_an_expiring_certificate_is_renewed(tmp_path):
    path = str(tmp_path / "tls")
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2, hours=12)
    certs.write(path, certs.make(ARGS["cluster"], ARGS["run_id"], NAMES, now=old))
    outcome = certs.ensure(path, ARGS["cluster"], ARGS["run_id"], NAMES)
    assert outcome.changed is True
    assert any("expires at" in r for r in outcome.reasons), outcome.reasons
    assert certs.problems(path, ARGS["cluster"], ARGS["run_id"], NAMES) == []
