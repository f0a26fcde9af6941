"""PEM bundles: splitting, certificates, credential bundles, and key naming.

A PEM bundle is a sequence of `-----BEGIN T-----` / `-----END T-----` blocks. As the kubelet and
kube-apiserver do, we ignore text between blocks and drop RFC 1421 headers inside a block. The
credential bundle the kubelet writes is one PKCS#8 `PRIVATE KEY` block followed by the chain,
leaf first.

Every parsing function raises only `PemError` (a `ValueError`) on bad input, whatever the bytes,
and its message never contains key material. Nothing here reads files or verifies chains.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)

CERTIFICATE = "CERTIFICATE"
PRIVATE_KEY = "PRIVATE KEY"

_BEGIN, _END, _DASHES = "-----BEGIN ", "-----END ", "-----"
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


# What parsing a certificate (and touching its extensions) raises on malformed DER.
PARSE_ERRORS = (
    ValueError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


class PemError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Block:
    type: str
    der: bytes


@dataclass(frozen=True, slots=True)
class Credential:
    """A private key and the certificate chain for it, leaf first."""

    key: PrivateKeyTypes
    chain: tuple[x509.Certificate, ...]


def blocks(data: bytes | str) -> tuple[Block, ...]:
    """Every PEM block in `data`, in order; text between blocks is ignored."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    found: list[Block] = []
    kind: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if kind is None:
            if line.startswith(_BEGIN) and line.endswith(_DASHES):
                kind, body = line[len(_BEGIN) : -len(_DASHES)], []
        elif line.startswith(_END):
            if line != f"{_END}{kind}{_DASHES}":
                raise PemError(f"PEM block {len(found) + 1} ({kind}): mismatched END line")
            found.append(Block(kind, _decode_body(body, kind, len(found) + 1)))
            kind = None
        else:
            body.append(line)
    if kind is not None:
        raise PemError(f"PEM block {len(found) + 1} ({kind}): no END line")
    return tuple(found)


def certificates(data: bytes | str) -> tuple[x509.Certificate, ...]:
    """The certificates of a bundle holding only CERTIFICATE blocks (at least one)."""
    found = blocks(data)
    if not found:
        raise PemError("no PEM blocks found")
    for index, block in enumerate(found, 1):
        if block.type != CERTIFICATE:
            raise PemError(f"PEM block {index} is {block.type}, expected {CERTIFICATE}")
    return tuple(_certificate(block, index) for index, block in enumerate(found, 1))


def credential(data: bytes | str) -> Credential:
    """A credential bundle: one PKCS#8 PRIVATE KEY block and the chain for it."""
    found = blocks(data)
    keys = [(index, b) for index, b in enumerate(found, 1) if b.type == PRIVATE_KEY]
    certs = [(index, b) for index, b in enumerate(found, 1) if b.type == CERTIFICATE]
    if len(keys) != 1:
        raise PemError(f"expected one {PRIVATE_KEY} block, found {len(keys)}")
    if not certs:
        raise PemError(f"no {CERTIFICATE} blocks found")
    if len(keys) + len(certs) != len(found):
        other = next(b.type for b in found if b.type not in (PRIVATE_KEY, CERTIFICATE))
        raise PemError(f"unexpected PEM block type {other}")
    key = _private_key(keys[0][1], keys[0][0])
    chain = tuple(_certificate(block, index) for index, block in certs)
    if public_key(chain[0]) != key.public_key():
        raise PemError("the private key does not match the leaf certificate")
    return Credential(key, chain)


def encode(certs: tuple[x509.Certificate, ...] | list[x509.Certificate]) -> str:
    return "".join(cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in certs)


def public_key(cert: x509.Certificate) -> CertificatePublicKeyTypes:
    try:
        return cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise PemError("certificate has an unsupported or malformed public key") from None


def key_type(key: PublicKeyTypes | PrivateKeyTypes) -> str:
    """A short human name such as "Ed25519", "ECDSA P-256" or "RSA 3072"."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey | ed448.Ed448PrivateKey):
        return "Ed448"
    if isinstance(key, x25519.X25519PublicKey | x25519.X25519PrivateKey):
        return "X25519"
    if isinstance(key, x448.X448PublicKey | x448.X448PrivateKey):
        return "X448"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return f"ECDSA {_CURVES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return f"RSA {key.key_size}"
    return type(key).__name__


def fingerprint(key: PublicKeyTypes) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, as "SHA256:<hex>"."""
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"SHA256:{hashlib.sha256(spki).hexdigest()}"


def _decode_body(lines: list[str], kind: str, index: int) -> bytes:
    if any(":" in line for line in lines):  # RFC 1421 headers, then a blank line
        lines = lines[lines.index("") + 1 :] if "" in lines else []
    try:
        der = base64.b64decode("".join(lines), validate=True)
    except (binascii.Error, ValueError):
        raise PemError(f"PEM block {index} ({kind}): not valid base64") from None
    if not der:
        raise PemError(f"PEM block {index} ({kind}): empty")
    return der


def _certificate(block: Block, index: int) -> x509.Certificate:
    try:
        cert = x509.load_der_x509_certificate(block.der)
        cert.extensions  # noqa: B018  (parsed lazily: surface malformed extensions here)
    except PARSE_ERRORS:
        raise PemError(f"PEM block {index}: not a valid X.509 certificate") from None
    return cert


def _private_key(block: Block, index: int) -> PrivateKeyTypes:
    try:
        return serialization.load_der_private_key(block.der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Never echo the cause: it may describe key bytes.
        raise PemError(f"PEM block {index}: not an unencrypted PKCS#8 private key") from None
