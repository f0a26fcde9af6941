"""Chain verification that also works for Ed25519 CAs.

cryptography's `x509.verification` implements the Web PKI profile and refuses Ed25519, which is
meshtool's default CA key type. This module walks a chain (leaf first) itself: each certificate
must be valid at `now` and signed by the next one; every issuer must be a CA (BasicConstraints
cA=true, keyCertSign if it has a KeyUsage, its pathLenConstraint respected); and the chain must
end in one of the trust anchors, either by containing it or by being signed by it.

It deliberately does not check EKU, name constraints, policies, revocation or unknown critical
extensions: it answers "was this chain issued under these anchors", for `meshtool inspect` and
for tests, not "may this TLS peer be trusted". Failures raise `ChainError` with one line saying
which certificate failed and why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization


class ChainError(ValueError):
    pass


def verify(
    chain: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    now: dt.datetime,
) -> tuple[x509.Certificate, ...]:
    """The verified path, leaf first and ending with the anchor; raises `ChainError`."""
    if not chain:
        raise ChainError("the chain is empty")
    path = (*chain, *_anchor_for(chain[-1], anchors, len(chain)))
    for index, cert in enumerate(path, 1):
        _check_validity(cert, index, now)
        if index > 1:
            _check_issuer(cert, index, below=index - 2)
        if index < len(path):
            _check_signed(cert, path[index], index)
    return path


def _anchor_for(
    last: x509.Certificate, anchors: Sequence[x509.Certificate], count: int
) -> tuple[x509.Certificate, ...]:
    """() if `last` is itself an anchor, else the anchor that signed it."""
    der = serialization.Encoding.DER
    if any(anchor.public_bytes(der) == last.public_bytes(der) for anchor in anchors):
        return ()
    for anchor in anchors:
        if anchor.subject == last.issuer and _signed_by(last, anchor):
            return (anchor,)
    raise ChainError(f"certificate {count} ({_name(last)}): not issued by any trust anchor")


def _check_validity(cert: x509.Certificate, index: int, now: dt.datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise ChainError(
            f"certificate {index} ({_name(cert)}): not valid before "
            f"{cert.not_valid_before_utc.isoformat()}"
        )
    if now > cert.not_valid_after_utc:
        raise ChainError(
            f"certificate {index} ({_name(cert)}): expired at "
            f"{cert.not_valid_after_utc.isoformat()}"
        )


def _check_issuer(cert: x509.Certificate, index: int, *, below: int) -> None:
    """`cert` issues the certificate before it, with `below` CA certificates under it."""
    where = f"certificate {index} ({_name(cert)})"
    extensions = cert.extensions
    try:
        constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise ChainError(f"{where}: not a CA (no BasicConstraints)") from None
    if not constraints.ca:
        raise ChainError(f"{where}: not a CA (BasicConstraints cA=false)")
    if constraints.path_length is not None and below > constraints.path_length:
        raise ChainError(f"{where}: pathLenConstraint {constraints.path_length} exceeded")
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.key_cert_sign:
        raise ChainError(f"{where}: KeyUsage lacks keyCertSign")


def _check_signed(cert: x509.Certificate, issuer: x509.Certificate, index: int) -> None:
    if not _signed_by(cert, issuer):
        raise ChainError(
            f"certificate {index} ({_name(cert)}): not issued by certificate {index + 1} "
            f"({_name(issuer)})"
        )


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "empty subject"
