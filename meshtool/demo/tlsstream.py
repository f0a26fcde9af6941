"""pyOpenSSL connections as blocking byte streams for `http.server`, and their failures in words.

pyOpenSSL connections run on blocking sockets whose kernel timeouts (`SO_RCVTIMEO` /
`SO_SNDTIMEO`, set by `set_timeouts`) bound the handshake and idle keep-alive connections;
OpenSSL reports a timeout as `WantReadError`/`WantWriteError`. `TlsStream` is a raw stream over
the connection that turns every TLS-level end (close_notify, reset, timeout, alert) into end of
file on reads and `ConnectionError` on writes. `reason` names an `SSL.Error` or `OSError` in
one line and `peer` an address, for logs. Nothing here accepts, handshakes or closes a
connection, and nothing here judges a certificate: that is `meshtool.demo.server`.
"""

from __future__ import annotations

import io
import logging
import socket
import struct
from typing import TYPE_CHECKING, Any

from OpenSSL import SSL

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

log = logging.getLogger(__name__)


class TlsStream(io.RawIOBase):
    """A pyOpenSSL connection as a raw binary stream, for `http.server`'s rfile and wfile."""

    def __init__(self, conn: SSL.Connection) -> None:
        super().__init__()
        self._conn = conn

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._conn.recv(len(view))
        except SSL.Error as exc:  # close_notify, reset, idle timeout or a TLS alert
            log.debug("TLS connection ended: %s", reason(exc))
            return 0
        view[: len(data)] = data
        return len(data)

    def write(self, data: ReadableBuffer) -> int:
        view = memoryview(data).cast("B")
        try:
            self._conn.sendall(view)
        except SSL.Error as exc:
            raise ConnectionError(f"TLS write failed: {reason(exc)}") from None
        return len(view)


def peer(address: Any) -> str:
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)


def set_timeouts(sock: socket.socket, seconds: float) -> None:
    """Bound each blocking read and write; the socket itself stays blocking for OpenSSL."""
    timeval = struct.pack("ll", int(seconds), int(seconds % 1 * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def reason(exc: BaseException) -> str:
    """One line for an `SSL.Error` (whose args are OpenSSL's error queue) or an `OSError`."""
    if isinstance(exc, SSL.WantReadError | SSL.WantWriteError):
        return "timed out"
    if isinstance(exc, SSL.ZeroReturnError):
        return "closed by the peer"
    if isinstance(exc, SSL.SysCallError):
        return f"socket error {exc.args}"
    if isinstance(exc, SSL.Error) and exc.args and isinstance(exc.args[0], list):
        return "; ".join(str(entry[-1]) for entry in exc.args[0]) or "unknown TLS error"
    return str(exc) or type(exc).__name__
