"""The X509-SVID leaf rules (SPIFFE X509-SVID.md), for a certificate whose chain is checked apart.

`svid_id` returns the SPIFFE ID of a leaf that may be an SVID: not a CA (BasicConstraints
cA=false, no keyCertSign or cRLSign key usage), exactly one URI SAN, and that URI a well-formed
`spiffe://<trust-domain>/<path>` with a non-empty path (`parse_id`, on top of
`signers.spiffeid.parse`). `require_usage` checks an ExtendedKeyUsage, when the leaf has one,
for the TLS side it is presented on (clientAuth or serverAuth).

Which chain leads to which trust anchors is `meshtool.workload.peer`'s business, and what a
peer may do is the allow-list's; this module looks at one certificate. Every refusal is a
`PeerRejected` whose message is one line, safe to send back to the peer and to log.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshtool.signers import spiffeid

CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER = ExtendedKeyUsageOID.SERVER_AUTH
_SIDE = {CLIENT: "TLS clients", SERVER: "TLS servers"}


class PeerRejected(Exception):
    """The peer's certificate is not an acceptable SVID; the message says why, in one line."""


def parse_id(uri: str) -> spiffeid.SpiffeId:
    """Parse a workload's SPIFFE ID: `signers.spiffeid.parse` plus a non-empty path."""
    try:
        spiffe_id = spiffeid.parse(uri)
    except spiffeid.InvalidSpiffeId as exc:
        raise PeerRejected(f"invalid SPIFFE ID: {exc}") from None
    if not spiffe_id.path:
        raise PeerRejected(f"{uri!r} names a trust domain, not a workload")
    return spiffe_id


def svid_id(cert: x509.Certificate) -> spiffeid.SpiffeId:
    """The SPIFFE ID of a leaf certificate that satisfies the X509-SVID leaf rules."""
    _require_leaf(cert)
    uris = uri_sans(cert)
    if len(uris) != 1:
        raise PeerRejected(f"certificate has {len(uris)} URI SANs, an SVID has exactly one")
    return parse_id(uris[0])


def uri_sans(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(x509.UniformResourceIdentifier)


def require_usage(cert: x509.Certificate, usage: x509.ObjectIdentifier) -> None:
    """Refuse a leaf whose ExtendedKeyUsage (if any) excludes `usage` (`CLIENT` or `SERVER`)."""
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not {usage, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(usages):
        raise PeerRejected(f"certificate's extended key usage does not allow {_SIDE[usage]}")


def _require_leaf(cert: x509.Certificate) -> None:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is not None and constraints.ca:
        raise PeerRejected("certificate is a CA, not a leaf SVID")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if usage.key_cert_sign or usage.crl_sign:
        raise PeerRejected("certificate may sign certificates, not a leaf SVID")
