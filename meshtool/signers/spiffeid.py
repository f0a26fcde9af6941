"""SPIFFE IDs: `spiffe://<trust-domain><path>`, parsed and formatted per SPIFFE-ID.md.

Rules (the spec's, as go-spiffe enforces them):
- the scheme is exactly `spiffe`, followed by `://`;
- the trust domain is 1-255 characters of lowercase letters, digits, `.`, `-` and `_`; so no
  userinfo (`@`), port (`:`) or uppercase;
- the path is empty or `/`-separated segments of `[A-Za-z0-9._-]`, none empty, `.` or `..`,
  and no trailing `/`; so no query (`?`), fragment (`#`) or percent-encoding (`%`);
- the whole ID is at most 2048 bytes.

A workload SVID needs a non-empty path; that is the signer's rule, not the ID's. Errors are
`InvalidSpiffeId` (a ValueError) saying which rule failed. Pure and dependency-free, so the
demo server can reuse it to check peers.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

SCHEME_PREFIX = "spiffe://"
MAX_TRUST_DOMAIN = 255
MAX_ID = 2048
_TD_CHARS = frozenset(string.ascii_lowercase + string.digits + ".-_")
_PATH_CHARS = frozenset(string.ascii_letters + string.digits + ".-_")
_EXPLAINED = {
    "@": "userinfo is not allowed",
    ":": "a port is not allowed",
    "?": "a query is not allowed",
    "#": "a fragment is not allowed",
    "%": "percent-encoding is not allowed",
}


class InvalidSpiffeId(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SpiffeId:
    trust_domain: str
    path: str = ""
    """Empty, or starting with `/`."""

    def __str__(self) -> str:
        return f"{SCHEME_PREFIX}{self.trust_domain}{self.path}"

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.split("/")[1:]) if self.path else ()


def validate_trust_domain(trust_domain: str) -> None:
    if not trust_domain:
        raise InvalidSpiffeId("trust domain is empty")
    if len(trust_domain) > MAX_TRUST_DOMAIN:
        raise InvalidSpiffeId(f"trust domain is longer than {MAX_TRUST_DOMAIN} characters")
    _check_chars(trust_domain, _TD_CHARS, "trust domain", "lowercase letters, digits, '.-_'")


def validate_path(path: str) -> None:
    if not path:
        return
    if not path.startswith("/"):
        raise InvalidSpiffeId(f"path {path!r} must start with '/'")
    for segment in path[1:].split("/"):
        if segment in ("", ".", ".."):
            raise InvalidSpiffeId(f"path {path!r} has an empty, '.' or '..' segment")
        _check_chars(segment, _PATH_CHARS, "path segment", "letters, digits, '.-_'")


def parse(uri: str) -> SpiffeId:
    if not uri.startswith(SCHEME_PREFIX):
        raise InvalidSpiffeId(f"{uri[:64]!r} does not start with {SCHEME_PREFIX!r}")
    if len(uri.encode()) > MAX_ID:
        raise InvalidSpiffeId(f"SPIFFE ID is longer than {MAX_ID} bytes")
    trust_domain, slash, path = uri[len(SCHEME_PREFIX) :].partition("/")
    spiffe_id = SpiffeId(trust_domain, slash + path)
    validate_trust_domain(spiffe_id.trust_domain)
    validate_path(spiffe_id.path)
    return spiffe_id


def make(trust_domain: str, *segments: str) -> SpiffeId:
    """A validated ID from a trust domain and raw path segments (which may not contain `/`)."""
    if any("/" in segment for segment in segments):
        raise InvalidSpiffeId(f"path segments {segments!r} must not contain '/'")
    spiffe_id = SpiffeId(trust_domain, "".join(f"/{s}" for s in segments))
    validate_trust_domain(trust_domain)
    validate_path(spiffe_id.path)
    if len(str(spiffe_id).encode()) > MAX_ID:
        raise InvalidSpiffeId(f"SPIFFE ID is longer than {MAX_ID} bytes")
    return spiffe_id


def for_service_account(trust_domain: str, namespace: str, service_account: str) -> SpiffeId:
    """The Kubernetes convention `spiffe://<td>/ns/<namespace>/sa/<service account>`."""
    return make(trust_domain, "ns", namespace, "sa", service_account)


def _check_chars(text: str, allowed: frozenset[str], what: str, description: str) -> None:
    for char in text:
        if char not in allowed:
            why = _EXPLAINED.get(char, f"only {description} are allowed")
            raise InvalidSpiffeId(f"{what} {text!r} contains {char!r}: {why}")
