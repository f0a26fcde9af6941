"""Why a request got no HTTP answer, in words that name the apiserver.

httpx2 reports failures below HTTP as exception chains (`ConnectError('All connection attempts
failed')` caused by a `ConnectionRefusedError`, `ConnectTimeout('')` caused by a cancelled TLS
read, ...), whose reprs mean nothing to a user. `describe` walks the chain for the first cause
it knows (refused, unresolvable host, untrusted certificate, other TLS failure, timeout, an
OS error) and says it in one sentence: `cannot reach the apiserver https://10.0.0.1:6443:
connection refused (GET /api/v1/...)`. It never raises and never shows a repr.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx2


def describe(exc: httpx2.HTTPError, *, server: str, what: str) -> str:
    """One sentence for a request `what` (`GET /path`) to `server` that got no answer."""
    if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout):
        return f"cannot reach the apiserver {server}: {reason(exc)} ({what})"
    if isinstance(exc, httpx2.PoolTimeout):
        return f"no free connection to the apiserver {server} in time ({what})"
    if isinstance(exc, httpx2.TimeoutException):
        return f"the apiserver {server} did not answer in time ({what})"
    return f"lost the connection to the apiserver {server}: {reason(exc)} ({what})"


def describe_no_answer(exc: BaseException, *, server: str, what: str) -> str:
    """The same sentences for the lean path's `http1.NoAnswer` (duck-typed: `connect`,
    `timed_out`), so both request paths report a missing answer alike."""
    if getattr(exc, "connect", False):
        return f"cannot reach the apiserver {server}: {reason(exc)} ({what})"
    if getattr(exc, "timed_out", False):
        return f"the apiserver {server} did not answer in time ({what})"
    return f"lost the connection to the apiserver {server}: {reason(exc)} ({what})"


def reason(exc: BaseException) -> str:
    """The first cause in `exc`'s chain we can name, else what the exception itself says."""
    for cause in _chain(exc):
        named = _named(cause)
        if named:
            return named
    if isinstance(exc, httpx2.TimeoutException) or getattr(exc, "timed_out", False):
        return "timed out"
    if getattr(exc, "connect", None) is not None:
        return "the connection closed"
    return str(exc) or "connection failed"


def _named(cause: BaseException) -> str | None:
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, socket.gaierror):
        return f"cannot resolve the host name ({cause.strerror})"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"its TLS certificate is not trusted ({cause.verify_message})"
    if isinstance(cause, ssl.SSLWantReadError | TimeoutError | httpx2.TimeoutException):
        return "timed out"
    if isinstance(cause, ssl.SSLError):
        return f"TLS handshake failed ({getattr(cause, 'reason', None) or cause.strerror})"
    if isinstance(cause, OSError) and cause.errno is not None and cause.strerror:
        return cause.strerror[0].lower() + cause.strerror[1:]
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
