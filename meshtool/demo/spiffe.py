"""SPIFFE checks on a peer's certificate: its chain, then the X509-SVID leaf rules.

Division of labour. For the *server* (`https-client` checking `demo-server`) OpenSSL, through
`ssl`, verifies the chain during the handshake, and `verify_server` checks the leaf it
accepted. For *clients* (`demo-server` judging callers) the TLS layer lets any presented chain
through, so that a refusal is an HTTP 401 with a reason instead of a TLS alert, and
`verify_client_chain` does the whole job after the handshake:

* the presented chain (leaf first, then the intermediates the client sent) must lead to the
  SPIFFE trust bundle: `meshtool.pki.chain.verify` checks signatures (Ed25519, ECDSA, RSA),
  validity times, CA constraints and path lengths;
* the leaf may be used for TLS clients: if it has an ExtendedKeyUsage, it includes clientAuth
  (what OpenSSL's purpose check required before);
* then the leaf rules every SVID check applies (`svid_id`): not a CA (BasicConstraints cA=false,
  no keyCertSign or cRLSign key usage); exactly one URI SAN, a well-formed
  `spiffe://<trust-domain>/<path>` ID with a non-empty path;
* the trust domain is the one the bundle belongs to (a bundle file carries no trust domain,
  so it is configured), and the ID is on the allow-list when there is one.

Not checked, as `pki.chain` documents: name constraints, policies, revocation and unknown
critical extensions. Proof that the client holds the leaf's key is the TLS handshake's
CertificateVerify, which OpenSSL checks regardless.

Every refusal is a `PeerRejected` whose message is one line, safe to send back to the peer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshtool.pki import chain as pki_chain
from meshtool.signers import spiffeid


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


def svid_id(der: bytes) -> spiffeid.SpiffeId:
    """The SPIFFE ID of a leaf certificate that satisfies the X509-SVID leaf rules."""
    return _svid_id(x509.load_der_x509_certificate(der))


def _svid_id(cert: x509.Certificate) -> spiffeid.SpiffeId:
    _require_leaf(cert)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise PeerRejected("certificate has no subject alternative names") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise PeerRejected(f"certificate has {len(uris)} URI SANs, an SVID has exactly one")
    return parse_id(uris[0])


def verify_client_chain(
    chain: Sequence[x509.Certificate],
    *,
    anchors: Sequence[x509.Certificate],
    now: dt.datetime,
    trust_domain: str,
    allowed: Collection[str],
) -> spiffeid.SpiffeId:
    """Check a presented client chain (leaf first) against the trust bundle `anchors`, then
    its leaf as `verify_client` does."""
    try:
        pki_chain.verify(chain, anchors, now=now)
    except pki_chain.ChainError as exc:
        raise PeerRejected(
            f"client certificate does not verify against the SPIFFE trust bundle: {exc}"
        ) from None
    _require_client_auth(chain[0])
    return _check_client(_svid_id(chain[0]), trust_domain, allowed)


def verify_client(der: bytes, *, trust_domain: str, allowed: Collection[str]) -> spiffeid.SpiffeId:
    """Check a client SVID against the bundle's trust domain and the optional allow-list."""
    return _check_client(svid_id(der), trust_domain, allowed)


def _check_client(
    spiffe_id: spiffeid.SpiffeId, trust_domain: str, allowed: Collection[str]
) -> spiffeid.SpiffeId:
    if spiffe_id.trust_domain != trust_domain:
        raise PeerRejected(f"{spiffe_id} is not in trust domain {trust_domain!r}")
    if allowed and str(spiffe_id) not in allowed:
        raise PeerRejected(f"{spiffe_id} is not an allowed client")
    return spiffe_id


def verify_server(der: bytes, *, expected: str) -> spiffeid.SpiffeId:
    """Check that a server SVID carries exactly the expected SPIFFE ID."""
    spiffe_id = svid_id(der)
    if str(spiffe_id) != expected:
        raise PeerRejected(f"server is {spiffe_id}, expected {expected}")
    return spiffe_id


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


def _require_client_auth(cert: x509.Certificate) -> None:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(
        usages
    ):
        raise PeerRejected("certificate's extended key usage does not allow TLS clients")
