"""Reading the requested public key and naming its type.

A PodCertificateRequest carries its key in one of two forms: a stub PKCS#10 CSR
(`stubPKCS10Request`, 1.36+, preferred) or a bare PKIX SubjectPublicKeyInfo (`pkixPublicKey`,
1.34/1.35). Both arrive as standard base64. The API server has already checked the proof of
possession (the CSR's self-signature, or `proofOfPossession`), so we only extract the key.

Invariant: nothing here raises on bad key bytes. Garbage becomes a `KeyInfo` with `error` set
and no key, so the signer can deny the request with the reason instead of the controller
crashing on it. Classifying and naming keys is `meshtool.pki.keys`' job; the names are
re-exported here for the API edge's callers.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from meshtool.api.types import KeySource, KeyType
from meshtool.pki import keys as pki_keys

# x509.InvalidVersion is not a ValueError: a CSR with version 64 raises it.
_DECODE_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm, binascii.Error, x509.InvalidVersion)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    source: KeySource | None
    public_key: PublicKeyTypes | None
    key_type: KeyType | None
    error: str | None


def missing(problem: str) -> KeyInfo:
    return KeyInfo(None, None, None, problem)


def from_stub(b64: str) -> KeyInfo:
    """The subject public key of a base64 DER PKCS#10 request."""
    try:
        csr = x509.load_der_x509_csr(base64.b64decode(b64, validate=True))
        key = csr.public_key()
    except _DECODE_ERRORS as exc:
        return _unreadable(KeySource.STUB_PKCS10, exc)
    return KeyInfo(KeySource.STUB_PKCS10, key, classify(key), None)


def from_pkix(b64: str) -> KeyInfo:
    """The key in a base64 DER SubjectPublicKeyInfo."""
    try:
        key = serialization.load_der_public_key(base64.b64decode(b64, validate=True))
    except _DECODE_ERRORS as exc:
        return _unreadable(KeySource.PKIX, exc)
    return KeyInfo(KeySource.PKIX, key, classify(key), None)


def _unreadable(source: KeySource, exc: Exception) -> KeyInfo:
    what = "a DER PKCS#10 request" if source is KeySource.STUB_PKCS10 else "a DER PKIX public key"
    return KeyInfo(source, None, None, f"spec.{source.value} is not {what}: {exc}")


classify = pki_keys.classify
describe = pki_keys.describe
spki_der = pki_keys.spki_der
