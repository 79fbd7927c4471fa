"""A run's TLS material: a private CA made for one run, and one certificate it signs.

Scheduler, workers and the source present the same certificate (usable as server and
as client) and trust only the run's CA, so nothing without the run's key can join or
talk to the cluster. The CA's key is never written: once the files exist, nobody can
sign another certificate for the run. Files, in one directory (mode 0700):

- ``ca.pem``: the CA certificate (what every endpoint trusts);
- ``cluster.pem``: the cluster certificate, signed by the CA;
- ``cluster-key.pem``: its private key (mode 0600).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "ca.pem"
CERT_FILE = "cluster.pem"
KEY_FILE = "cluster-key.pem"
DIR_MODE = 0o700
KEY_MODE = 0o600
CERT_MODE = 0o644
VALIDITY = datetime.timedelta(days=3)
# valid from a little before now, for hosts whose clocks run behind the controller's
BACKDATE = datetime.timedelta(hours=1)
# certificates with less left than this are made anew: a run must not outlive them
RENEW_BEFORE = datetime.timedelta(days=1)
MAX_COMMON_NAME = 64  # RFC 5280 upper bound
_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class Bundle:
    """The PEM text of the three files."""

    ca: bytes
    cert: bytes
    key: bytes


@dataclass(frozen=True)
class Outcome:
    """What ``ensure`` did (or, in check mode, would do) and why."""

    changed: bool
    reasons: list[str]
    files: dict[str, str]


def files(path: str) -> dict[str, str]:
    """The three file paths under directory ``path``."""
    return {
        "ca_file": os.path.join(path, CA_FILE),
        "cert_file": os.path.join(path, CERT_FILE),
        "key_file": os.path.join(path, KEY_FILE),
    }


def common_name(cluster: str, run_id: str) -> str:
    """The CA's common name, ``burst <cluster> <run id>``."""
    for field, value in (("cluster", cluster), ("run_id", run_id)):
        if not value or not value.isprintable() or any(c.isspace() for c in value):
            raise ValueError(f"{field}: {value!r} is not a name (printable, without spaces)")
    name = f"burst {cluster} {run_id}"
    if len(name) > MAX_COMMON_NAME:
        raise ValueError(
            f"cluster and run_id: the CA name {name!r} has {len(name)} characters;"
            f" expected at most {MAX_COMMON_NAME}"
        )
    return name


def subject_names(names: Iterable[str]) -> list[x509.GeneralName]:
    """IP addresses and DNS names as subject alternative names, deduplicated, in order."""
    found: list[x509.GeneralName] = []
    for name in names:
        text = str(name).strip()
        try:
            general: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(text))
        except ValueError:
            dns = text.lower().rstrip(".")
            labels = dns.split(".")
            if not dns or len(dns) > 253 or not all(_DNS_LABEL.match(x) for x in labels):
                raise ValueError(
                    f"names: {name!r} is neither an IP address nor a DNS name"
                ) from None
            general = x509.DNSName(dns)
        if general not in found:
            found.append(general)
    if not found:
        raise ValueError("names: [] has no names; expected the cluster's IP addresses or names")
    return found


KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _key_usage(*allowed: str) -> x509.KeyUsage:
    """A KeyUsage extension that allows ``allowed`` and nothing else."""
    return x509.KeyUsage(**{usage: usage in allowed for usage in KEY_USAGES})


def make(
    cluster: str,
    run_id: str,
    names: Iterable[str],
    now: datetime.datetime | None = None,
) -> Bundle:
    """A new CA for the run and a cluster certificate it signs, valid for ``VALIDITY``."""
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name(cluster, run_id))])
    sans = subject_names(names)
    now = now or datetime.datetime.now(datetime.UTC)
    not_before, not_after = now - BACKDATE, now + VALIDITY

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _key_usage("key_cert_sign", "crl_sign"),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"burst {cluster}")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage("digital_signature", "key_agreement"),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Bundle(
        ca=ca.public_bytes(serialization.Encoding.PEM),
        cert=cert.public_bytes(serialization.Encoding.PEM),
        key=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def problems(
    path: str,
    cluster: str,
    run_id: str,
    names: Iterable[str],
    now: datetime.datetime | None = None,
) -> list[str]:
    """Why the files under ``path`` are not the run's valid material; [] if they are."""
    expected_cn = common_name(cluster, run_id)
    expected_sans = set(subject_names(names))
    now = now or datetime.datetime.now(datetime.UTC)
    paths = files(path)
    data = {field: _read(file) for field, file in paths.items()}
    missing = [paths[field] for field, content in data.items() if content is None]
    if missing:
        return [f"missing: {', '.join(missing)}"]
    try:
        ca = x509.load_pem_x509_certificate(data["ca_file"])
        cert = x509.load_pem_x509_certificate(data["cert_file"])
        key = serialization.load_pem_private_key(data["key_file"], password=None)
    except (ValueError, TypeError) as error:
        return [f"unreadable: {error}"]

    found = []
    ca_cn = [a.value for a in ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if ca_cn != [expected_cn]:
        found.append(f"the CA is {ca_cn}, not {expected_cn!r}")
    for label, certificate in (("CA", ca), ("certificate", cert)):
        if not certificate.not_valid_before_utc <= now:
            found.append(f"the {label} is not valid before {certificate.not_valid_before_utc}")
        if certificate.not_valid_after_utc - now < RENEW_BEFORE:
            found.append(f"the {label} expires at {certificate.not_valid_after_utc}")
    try:
        ca.verify_directly_issued_by(ca)
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        found.append(f"{paths['cert_file']} is not signed by {paths['ca_file']}")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public) != (
        cert.public_key().public_bytes(serialization.Encoding.DER, public)
    ):
        found.append(f"{paths['key_file']} is not the key of {paths['cert_file']}")
    try:
        sans = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        sans = set()
    if sans != expected_sans:
        found.append(f"the names are {_show(sans)}, not {_show(expected_sans)}")
    try:
        usage = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        usage = set()
    if not {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= usage:
        found.append("the certificate is not for both server and client authentication")
    return found


def _show(names: set[x509.GeneralName]) -> list[str]:
    return sorted(str(name.value) for name in names)


def _wanted_modes(path: str) -> dict[str, int]:
    paths = files(path)
    return {
        path: DIR_MODE,
        paths["ca_file"]: CERT_MODE,
        paths["cert_file"]: CERT_MODE,
        paths["key_file"]: KEY_MODE,
    }


def mode_problems(path: str) -> list[str]:
    """Files and the directory whose permission bits are not the ones wanted."""
    found = []
    for file, mode in _wanted_modes(path).items():
        actual = stat.S_IMODE(os.stat(file).st_mode)
        if actual != mode:
            found.append(f"{file} has mode {actual:04o}, not {mode:04o}")
    return found


def _write(path: str, name: str, content: bytes, mode: int) -> None:
    """Write a file of ``mode`` atomically: it never exists with wider permissions."""
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=path)
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.replace(temporary, os.path.join(path, name))
    except BaseException:
        os.unlink(temporary)
        raise


def write(path: str, bundle: Bundle) -> None:
    """Write ``bundle`` under ``path``, made with mode 0700 if missing."""
    os.makedirs(path, mode=DIR_MODE, exist_ok=True)
    os.chmod(path, DIR_MODE)
    _write(path, KEY_FILE, bundle.key, KEY_MODE)
    _write(path, CERT_FILE, bundle.cert, CERT_MODE)
    _write(path, CA_FILE, bundle.ca, CERT_MODE)


def ensure(
    path: str,
    cluster: str,
    run_id: str,
    names: Iterable[str],
    check_mode: bool = False,
) -> Outcome:
    """Make the run's material under ``path`` unless valid files for the same names exist.

    Valid files whose permissions are wrong get their permissions fixed and are kept.
    """
    names = list(names)
    reasons = problems(path, cluster, run_id, names)
    if reasons:
        if not check_mode:
            write(path, make(cluster, run_id, names))
        return Outcome(True, reasons, files(path))
    reasons = mode_problems(path)
    if reasons and not check_mode:
        for file, mode in _wanted_modes(path).items():
            os.chmod(file, mode)
    return Outcome(bool(reasons), reasons, files(path))


def remove(path: str, check_mode: bool = False) -> bool:
    """Remove the directory ``path`` with the run's files; True if there was one.

    Only the files this module writes are removed; a directory that holds anything else
    is left alone (ValueError), so a mistyped ``path`` cannot delete someone's data.
    """
    if not os.path.lexists(path):
        return False
    if not os.path.isdir(path) or os.path.islink(path):
        raise ValueError(f"path: {path!r} is not a directory; expected the run's TLS directory")
    ours = (CA_FILE, CERT_FILE, KEY_FILE)
    entries = os.listdir(path)
    others = [
        e for e in entries if e not in ours and not e.startswith(tuple(f".{n}." for n in ours))
    ]
    if others:
        raise ValueError(f"path: {path!r} holds {sorted(others)}; expected only {', '.join(ours)}")
    if not check_mode:
        for entry in entries:
            os.remove(os.path.join(path, entry))
        os.rmdir(path)
        _remove_empty_run_dir(path)
    return True


def _remove_empty_run_dir(path: str) -> None:
    """Remove ``runs/<run-id>/`` above the TLS directory ``path``, and ``runs/``, once empty."""
    run_dir = os.path.dirname(os.path.abspath(path))
    runs = os.path.dirname(run_dir)
    if os.path.basename(runs) != "runs":
        return
    for directory in (run_dir, runs):
        try:
            os.rmdir(directory)
        except OSError:  # not empty: another run's, or files that are not ours
            return
