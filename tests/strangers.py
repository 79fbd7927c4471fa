"""A stranger on a port of a run: connects, sends a first frame and rows of its own, and reads
what comes back, as an intruder on the hosts' network would."""

import socket
import ssl
import time

from classifier import framing

HEADER = b"ID,SKU,FLUX,MANUFACTURER_NAME,DESCRIPTION\n"
ROWS = b"".join(b"%d,forged,0,Nobody,not the run's row\n" % i for i in range(5))


def intrude(
    port: int,
    first_frame: bytes,
    *,
    tls: bool = True,
    ca_file: str | None = None,
    cert: tuple[str, str] | None = None,
    wait: float = 0,
) -> tuple[float, bytes]:
    """Connects to 127.0.0.1:``port`` as soon as it listens (within ``wait`` seconds), over TLS
    unless ``tls`` is false (trusting ``ca_file``, else any certificate, and presenting
    ``cert`` if given); sends ``first_frame``, five rows and the end of the input, and reads
    until refused. Returns (seconds from connecting until refused, what it was sent)."""
    give_up = time.monotonic() + wait
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except ConnectionRefusedError:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.005)
    started, answer = time.monotonic(), b""
    try:
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if ca_file:
                context.load_verify_locations(ca_file)
            else:
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            if cert:
                context.load_cert_chain(*cert)
            sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
        sock.sendall(b"".join(map(framing.encode, (first_frame, ROWS, framing.END))))
        while chunk := sock.recv(4096):
            answer += chunk
    except OSError:  # a reset, or the server's TLS alert
        pass
    finally:
        sock.close()
    return time.monotonic() - started, answer
