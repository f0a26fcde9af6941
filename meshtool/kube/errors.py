"""Errors from talking to kube-apiserver.

    KubeError                      anything that went wrong talking to the API
    ├── TransportError             no HTTP answer (connect, TLS, timeout); always worth a retry
    ├── Withdrawn                  not sent: the caller's `send_if` said no at the last moment
    └── ApiError                   an HTTP error answer; carries the Status body
        ├── BadRequest      400
        ├── Unauthorized    401
        ├── Forbidden       403
        ├── NotFound        404
        ├── Conflict        409    (stale resourceVersion, or AlreadyExists)
        ├── Gone            410    (watch resourceVersion too old: relist)
        ├── Invalid         422    (validation refused the object)
        ├── TooManyRequests 429
        └── ServerError     5xx

The HTTP library's exception is chained as `__cause__`; none of its types leak out of
`meshtool.kube`.
"""

from __future__ import annotations

from typing import Any


class KubeError(Exception):
    pass


class TransportError(KubeError):
    pass


class Withdrawn(KubeError):
    """The request was never sent: its `send_if` check, asked just before the first byte would
    leave, returned False (a replica that lost its Lease while the write waited its turn)."""


class ApiError(KubeError):
    def __init__(self, code: int, status: dict[str, Any] | None = None, *, what: str = "") -> None:
        self.code = code
        self.status: dict[str, Any] = status or {}
        self.reason: str = str(self.status.get("reason", ""))
        self.message: str = str(self.status.get("message", "")) or f"HTTP {code}"
        prefix = f"{what}: " if what else ""
        super().__init__(
            f"{prefix}{self.message} ({code}{' ' + self.reason if self.reason else ''})"
        )


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    @property
    def already_exists(self) -> bool:
        return self.reason == "AlreadyExists"


class Gone(ApiError):
    pass


class Invalid(ApiError):
    pass


class TooManyRequests(ApiError):
    pass


class ServerError(ApiError):
    pass


_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def from_status(code: int, status: dict[str, Any] | None, *, what: str = "") -> ApiError:
    """The most specific ApiError for an HTTP code and its Status body."""
    cls = _BY_CODE.get(code) or (ServerError if code >= 500 else ApiError)
    return cls(code, status, what=what)
