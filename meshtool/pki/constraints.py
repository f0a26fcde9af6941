"""Name constraints for CA certificates: what names the leaves of a CA may carry.

Opt-in per pool: a CA created with constraints (`make-ca-pool-secret`/`meshtool ca prepare`
`--dns-constraint`/`--uri-constraint`) carries a critical NameConstraints extension with those
permitted subtrees, and every successor the rotation makes copies the active CA's constraints,
so the choice sticks to the pool. DNS subtrees follow RFC 5280 4.2.1.10 (`svc` permits `svc`
and every name under it); URI subtrees are hosts (`cluster.local` permits
`spiffe://cluster.local/...`). Which verifiers accept what is recorded in
docs/decisions/0004-name-constraints.md. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509

URI_WARNING = (
    "URI name constraints are rejected by some TLS libraries (cryptography's verifier refuses "
    "chains through them; see docs/decisions/0004-name-constraints.md)"
)


def build(*, dns: Iterable[str] = (), uri_hosts: Iterable[str] = ()) -> x509.NameConstraints | None:
    permitted: list[x509.GeneralName] = [x509.DNSName(d.strip().lstrip(".")) for d in dns]
    permitted += [x509.UniformResourceIdentifier(_host(u)) for u in uri_hosts]
    return (
        x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None)
        if permitted
        else None
    )


def _host(value: str) -> str:
    value = value.strip()
    return value.split("://", 1)[1].rstrip("/") if "://" in value else value


def of(cert: x509.Certificate) -> x509.NameConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None


def warnings(constraints: x509.NameConstraints | None) -> list[str]:
    subtrees = (constraints.permitted_subtrees or []) if constraints else []
    uri = any(isinstance(n, x509.UniformResourceIdentifier) for n in subtrees)
    return [URI_WARNING] if uri else []
