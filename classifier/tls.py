"""The run's TLS files, and the contexts every link of a run speaks through.

Each end of every link (sender → source, source → receiver, and Dask's) presents the
run's certificate and trusts only the run's CA, so a peer without the run's key is
refused in the handshake, before it can send a frame.
"""

import ssl
from dataclasses import dataclass

OPTIONS = {"ca_file": "--tls-ca-file", "cert": "--tls-cert", "key": "--tls-key"}


@dataclass(frozen=True)
class Tls:
    """The run's TLS files: the CA to trust, and the certificate and key to present."""

    ca_file: str
    cert: str
    key: str

    @classmethod
    def from_options(cls, ca_file: str | None, cert: str | None, key: str | None):
        """The three files, or None for plain TCP when none is given."""
        given = {"ca_file": ca_file, "cert": cert, "key": key}
        missing = [OPTIONS[name] for name, path in given.items() if not path]
        if not missing:
            return cls(ca_file, cert, key)
        if len(missing) < len(OPTIONS):
            raise ValueError(
                f"{', '.join(OPTIONS.values())} go together; missing {', '.join(missing)}"
            )
        return None

    def _check_readable(self) -> None:
        for name, option in OPTIONS.items():
            path = getattr(self, name)
            try:
                with open(path, "rb"):
                    pass
            except OSError as error:
                raise OSError(f"{option} {path}: {error.strerror or error}") from None

    def _context(self, purpose: ssl.Purpose) -> ssl.SSLContext:
        self._check_readable()
        try:
            context = ssl.create_default_context(purpose, cafile=self.ca_file)
            context.load_cert_chain(self.cert, self.key)
        except ssl.SSLError as error:
            raise ValueError(f"the run's TLS files cannot be used: {error}") from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def server_context(self) -> ssl.SSLContext:
        """For a port of the run: a peer must present a certificate of the run's CA.

        It sends no TLS 1.3 session tickets: a client that only writes (the source to the
        receiver) would hold them unread, and closing a socket with unread bytes resets the
        connection, dropping the last frames it had sent but the kernel had not yet delivered.
        """
        context = self._context(ssl.Purpose.CLIENT_AUTH)
        context.num_tickets = 0
        return context

    def client_context(self) -> ssl.SSLContext:
        """For connecting to a port of the run: the listener's certificate must be the run's,
        for the address connected to."""
        return self._context(ssl.Purpose.SERVER_AUTH)

    def security(self):
        """A Dask Security that refuses any connection that is not TLS with the run's CA."""
        from distributed.security import Security

        self._check_readable()
        return Security(
            tls_ca_file=self.ca_file,
            tls_client_cert=self.cert,
            tls_client_key=self.key,
            require_encryption=True,
        )


def add_options(parser) -> None:
    """The three options, on an argparse parser."""
    group = parser.add_argument_group(
        "TLS", "the run's TLS files (all three or none); with them every link speaks only TLS"
    )
    group.add_argument("--tls-ca-file", help="the run's CA certificate (PEM)")
    group.add_argument("--tls-cert", help="the certificate to present (PEM)")
    group.add_argument("--tls-key", help="its private key (PEM)")


def from_args(args) -> Tls | None:
    return Tls.from_options(args.tls_ca_file, args.tls_cert, args.tls_key)
