"""A listening port that admits the one peer a run expects and refuses everyone else.

Each connection must send a first frame that ``check`` accepts within
``first_frame_seconds``; the first that does is taken, and every other connection
(before, during or after) is closed with one WARNING line. At most ``max_waiting``
connections are read at once, each up to one frame (two, if the first is a ``preamble``
the peer may send before it), so abuse of the port costs
bounded memory and never touches the taken peer's stream. With a TLS context, a
connection must first finish a TLS handshake with a certificate the context trusts;
one that does not is refused before a byte of it is read as a frame.
"""

import logging
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from contextlib import suppress

from classifier import framing

BACKLOG = 128
CHUNK = 64 * 1024
HANDSHAKE_SECONDS = 10  # at most; a peer of the run finishes its handshake in milliseconds


class _Refused(Exception):
    """Why a connection is refused."""


class Gate:
    """Listens for the one peer a run expects; refuses every other connection with a log line.

    ``close()`` also closes the taken connection: the gate owns it, so close the gate
    once the peer's frames are read (or use it as a context manager).
    """

    def __init__(
        self,
        address: tuple[str, int],
        peer: str,
        check: Callable[[bytes], str | None],
        log: logging.Logger,
        max_frame_bytes: int = framing.MAX_FRAME_BYTES,
        first_frame_seconds: float = 30,
        max_waiting: int = 8,
        tls: ssl.SSLContext | None = None,
        preamble: Callable[[bytes], bool] | None = None,
    ):
        self.peer, self._check, self._log, self._tls = peer, check, log, tls
        self._preamble = preamble
        self.preamble: bytes | None = None  # the taken peer's, if it sent one
        self._max_frame_bytes, self._seconds = max_frame_bytes, first_frame_seconds
        self._max_waiting = max_waiting
        self.peak_waiting = 0
        self.connection: socket.socket | None = None
        self._taken: tuple[tuple[str, int], bytes, framing.FrameReader] | None = None
        self._closed = False
        self._waiting: set[socket.socket] = set()
        self._readers: set[threading.Thread] = set()
        self._lock = threading.Condition()
        self._server = framing.listen(address)
        self._server.listen(BACKLOG)
        self._server.setblocking(False)
        self.address: tuple[str, int] = self._server.getsockname()
        self._wake, self._woken = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._server, selectors.EVENT_READ)
        self._selector.register(self._woken, selectors.EVENT_READ)
        self._acceptor = threading.Thread(target=self._accept, name=f"gate-{peer}", daemon=True)
        self._acceptor.start()

    def take(
        self, timeout: float | None = None
    ) -> tuple[tuple[str, int], bytes, framing.FrameReader]:
        """Blocks until a connection sends a first frame that `check` accepts; returns its peer
        address, that first payload, and the FrameReader to read the rest from (same stream).

        Raises TimeoutError after ``timeout`` seconds, ConnectionError if the gate is closed.
        """
        with self._lock:
            if not self._lock.wait_for(lambda: self._taken or self._closed, timeout):
                raise TimeoutError(f"no {self.peer} connected within {timeout:g} s")
            if self._taken is None:
                raise ConnectionError(f"the gate closed before a {self.peer} connected")
            return self._taken

    def close(self) -> None:
        """Stops accepting; closes the listening socket, every waiting connection and the taken
        one (a read of it blocked in another thread returns); returns once the gate's threads
        have ended."""
        with self._lock:
            self._closed = True
            for connection in self._waiting:
                framing.shutdown(connection)
            self._lock.notify_all()
            threads = [self._acceptor, *self._readers]
        with suppress(OSError):
            self._wake.send(b"\0")
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        self._selector.close()
        for sock in (self._server, self._wake, self._woken):
            sock.close()
        if self._taken is not None:
            framing.shutdown(self.connection)
            self._taken[2].close()
            self.connection.close()

    def __enter__(self) -> "Gate":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            self._selector.select()
            try:
                connection, address = self._server.accept()
            except (BlockingIOError, ConnectionAbortedError):
                continue
            except OSError as error:
                if not self._closed:
                    self._log.warning("cannot accept a connection: %s", error)
                    time.sleep(0.1)
                continue
            with self._lock:
                if self._closed:
                    reason = None
                elif self._taken is not None:
                    reason = f"a {self.peer} is already connected"
                elif len(self._waiting) >= self._max_waiting:
                    reason = f"too many connections waiting ({self._max_waiting})"
                else:
                    self._readers = {thread for thread in self._readers if thread.is_alive()}
                    self._waiting.add(connection)
                    self.peak_waiting = max(self.peak_waiting, len(self._waiting))
                    reader = threading.Thread(
                        target=self._admit,
                        args=(connection, address),
                        name=f"gate-{self.peer}-{address[0]}:{address[1]}",
                        daemon=True,
                    )
                    self._readers.add(reader)
                    reader.start()
                    continue
            self._refuse(connection, address, reason)

    def _admit(self, connection: socket.socket, address: tuple[str, int]) -> None:
        try:
            if self._tls is not None:
                connection = self._wrap(connection)
                self._handshake(connection)
            payload, preamble = self._first_frame(connection), None
            if self._preamble is not None and self._preamble(payload):
                preamble, payload = payload, self._first_frame(connection)
        except _Refused as refused:
            reason = str(refused)
        except OSError as error:
            reason = f"connection failed: {error.strerror or error}"
        else:
            reason = self._checked(payload)
        with self._lock:
            self._waiting.discard(connection)
            if self._closed:
                reason = None
            elif self._taken is not None:
                reason = f"a {self.peer} is already connected"
            elif reason is None:
                connection.settimeout(None)
                self.connection = connection
                reader = framing.FrameReader(connection, self._max_frame_bytes)
                self._taken = (address, payload, reader)
                self.preamble = preamble
                self._log.info("%s connected from %s:%d", self.peer, *address[:2])
                for other in self._waiting:
                    framing.shutdown(other)
                self._lock.notify_all()
                return
        self._refuse(connection, address, reason)

    def _wrap(self, connection: socket.socket) -> ssl.SSLSocket:
        wrapped = self._tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        with self._lock:  # close() must reach the wrapped socket: the plain one is detached
            self._waiting.discard(connection)
            self._waiting.add(wrapped)
        return wrapped

    def _handshake(self, connection: ssl.SSLSocket) -> None:
        """Returns once the peer has shown a certificate of the run's CA."""
        seconds = min(self._seconds, HANDSHAKE_SECONDS)
        connection.settimeout(seconds)
        try:
            connection.do_handshake()
        except TimeoutError:
            raise _Refused(f"did not finish a TLS handshake within {seconds:g} s") from None
        except ssl.SSLError as error:
            raise _Refused(f"TLS handshake failed: {error.reason or error}") from None

    def _checked(self, payload: bytes) -> str | None:
        try:
            reason = self._check(payload)
        except Exception as error:  # a failing check refuses the connection, not the gate
            reason = f"check raised {type(error).__name__}: {error}"
        return None if reason is None else f"not a {self.peer}: {reason}"

    def _first_frame(self, connection: socket.socket) -> bytes:
        deadline = time.monotonic() + self._seconds
        prefix = self._receive(connection, framing.LENGTH.size, deadline)
        if not prefix:
            raise _Refused("closed the connection before sending a frame")
        if len(prefix) < framing.LENGTH.size:
            raise _Refused("closed the connection inside a frame's length prefix")
        (length,) = framing.LENGTH.unpack(prefix)
        if length > self._max_frame_bytes:
            raise _Refused(
                f"frame of {length} bytes is over the limit of {self._max_frame_bytes}"
                " (job.max_frame_bytes)"
            )
        payload = self._receive(connection, length, deadline)
        if len(payload) < length:
            raise _Refused(
                f"closed the connection after {len(payload)} of {length} bytes of its first frame"
            )
        return payload

    def _receive(self, connection: socket.socket, count: int, deadline: float) -> bytes:
        """Up to ``count`` bytes (fewer if the peer closes), never reading past them."""
        data = bytearray()
        while len(data) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Refused(f"sent no whole frame within {self._seconds:g} s")
            connection.settimeout(remaining)
            try:
                chunk = connection.recv(min(count - len(data), CHUNK))
            except TimeoutError:
                continue
            if not chunk:
                break
            data += chunk
        return bytes(data)

    def _refuse(self, connection: socket.socket, address, reason: str | None) -> None:
        if reason is not None:
            self._log.warning("refused a connection from %s:%d: %s", *address[:2], reason)
        connection.close()
