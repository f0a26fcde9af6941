"""Reading the requested public key and naming its type.

A PodCertificateRequest carries its key in one of two forms: a stub PKCS#10 CSR
(`stubPKCS10Request`, 1.36+, preferred) or a bare PKIX SubjectPublicKeyInfo (`pkixPublicKey`,
1.34/1.35). Both arrive as standard base64. The API server has already checked the proof of
possession (the CSR's self-signature, or `proofOfPossession`), so we only extract the key.

Invariant: nothing here raises on bad key bytes. Garbage becomes a `KeyInfo` with `error` set
and no key, so the signer can deny the request with the reason instead of the controller
crashing on it. `classify` maps a key onto the six types Kubernetes allows (RSA moduli of
exactly 3072 or 4096 bits); anything else is None, and `describe` names it for messages.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from meshtool.api.types import KeySource, KeyType

_EC_TYPES: dict[str, KeyType] = {
    "secp256r1": KeyType.ECDSAP256,
    "secp384r1": KeyType.ECDSAP384,
    "secp521r1": KeyType.ECDSAP521,
}
_RSA_TYPES = {3072: KeyType.RSA3072, 4096: KeyType.RSA4096}
_DECODE_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm, binascii.Error)


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


def classify(key: PublicKeyTypes) -> KeyType | None:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyType.ED25519
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _EC_TYPES.get(key.curve.name)
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA_TYPES.get(key.key_size)
    return None


def describe(key: PublicKeyTypes) -> str:
    """A short human name such as `RSA2048`, `ECDSA secp256k1` or `Ed448`."""
    known = classify(key)
    if known is not None:
        return known.value
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {key.curve.name}"
    names = {
        ed448.Ed448PublicKey: "Ed448",
        x25519.X25519PublicKey: "X25519",
        x448.X448PublicKey: "X448",
    }
    return next((n for cls, n in names.items() if isinstance(key, cls)), type(key).__name__)


def spki_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
