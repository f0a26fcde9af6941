"""Key types: the six Kubernetes allows in a PodCertificateRequest, and one name for any key.

`KeyType` is the vocabulary users meet everywhere (`--accepted-key-types`, denials, `inspect`):
`RSA3072`, `RSA4096`, `ECDSAP256`, `ECDSAP384`, `ECDSAP521`, `ED25519`. `classify` maps a key
onto it (RSA moduli of exactly 3072 or 4096 bits, the three NIST curves, Ed25519) and answers
None for anything else; `describe` names any key, public or private, in that vocabulary when it
can and in the same style otherwise (`RSA2048`, `ECDSA secp256k1`, `Ed448`), so one key always
has one name. `fingerprint` is the SHA-256 of the key's SubjectPublicKeyInfo.

Pure functions; nothing here parses bytes or raises on an odd key.
"""

from __future__ import annotations

import enum
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes


class KeyType(enum.Enum):
    """The six key types Kubernetes allows in a PodCertificateRequest."""

    RSA3072 = "RSA3072"
    RSA4096 = "RSA4096"
    ECDSAP256 = "ECDSAP256"
    ECDSAP384 = "ECDSAP384"
    ECDSAP521 = "ECDSAP521"
    ED25519 = "ED25519"


_EC_TYPES = {
    "secp256r1": KeyType.ECDSAP256,
    "secp384r1": KeyType.ECDSAP384,
    "secp521r1": KeyType.ECDSAP521,
}
_RSA_TYPES = {3072: KeyType.RSA3072, 4096: KeyType.RSA4096}
_OTHER_NAMES: dict[tuple[type, ...], str] = {
    (ed448.Ed448PublicKey, ed448.Ed448PrivateKey): "Ed448",
    (x25519.X25519PublicKey, x25519.X25519PrivateKey): "X25519",
    (x448.X448PublicKey, x448.X448PrivateKey): "X448",
}

AnyKey = PublicKeyTypes | PrivateKeyTypes


def classify(key: AnyKey) -> KeyType | None:
    """The Kubernetes key type of `key`, or None when it is none of the six."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return KeyType.ED25519
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return _EC_TYPES.get(key.curve.name)
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return _RSA_TYPES.get(key.key_size)
    return None


def describe(key: AnyKey) -> str:
    """`ECDSAP256`, `RSA3072`, ... for the six; `RSA2048`, `ECDSA secp256k1`, `Ed448` otherwise."""
    known = classify(key)
    if known is not None:
        return known.value
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return f"RSA{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return f"ECDSA {key.curve.name}"
    return next((n for cls, n in _OTHER_NAMES.items() if isinstance(key, cls)), type(key).__name__)


def spki_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(key: PublicKeyTypes) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, as "SHA256:<hex>"."""
    return f"SHA256:{hashlib.sha256(spki_der(key)).hexdigest()}"
