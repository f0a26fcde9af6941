"""PEM: the one reader and writer of `-----BEGIN T-----` / `-----END T-----` blocks.

As the kubelet and kube-apiserver do, we ignore text between blocks. `scan` is the reader: it
returns every block in order and flags what is wrong with each (a body that is not base64, RFC
1421 `Key: value` headers) instead of refusing, so a validator can report *which* block is bad;
a last block without END is returned as incomplete (Go's `encoding/pem`, and so the apiserver,
treats it as trailing text), and it raises `PemError` only for an END line that does not match
its BEGIN. `blocks` is the strict reading everything else uses: headers are dropped, an
undecodable, empty or unterminated block raises.

On top of it: `certificates` (a bundle of CERTIFICATE blocks), `credential` (the kubelet's
credential bundle: one PKCS#8 `PRIVATE KEY` block, then the chain, leaf first), and the writers
`encode_block` (64-character lines, no headers: the only form the PCR and ClusterTrustBundle
validators accept without question) and `encode`.

Every parsing function raises only `PemError` (a `ValueError`) on bad input, whatever the bytes,
and its message never contains key material. Nothing here reads files or verifies chains.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InternalError, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)

CERTIFICATE = "CERTIFICATE"
PRIVATE_KEY = "PRIVATE KEY"

_BEGIN, _END, _DASHES = "-----BEGIN ", "-----END ", "-----"


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
class Scanned:
    """One block as found: `der` is None when the body is not valid base64, b"" when empty."""

    type: str
    der: bytes | None
    has_headers: bool = False
    complete: bool = True
    """False for a last block without its END line (`der` is then None)."""


@dataclass(frozen=True, slots=True)
class Block:
    type: str
    der: bytes


@dataclass(frozen=True, slots=True)
class Credential:
    """A private key and the certificate chain for it, leaf first."""

    key: PrivateKeyTypes
    chain: tuple[x509.Certificate, ...]


def scan(data: bytes | str) -> tuple[Scanned, ...]:
    """Every PEM block in `data`, in order, each flagged rather than refused."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    found: list[Scanned] = []
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
            found.append(_scanned(kind, body))
            kind = None
        else:
            body.append(line)
    if kind is not None:
        found.append(Scanned(kind, None, complete=False))
    return tuple(found)


def blocks(data: bytes | str) -> tuple[Block, ...]:
    """Every PEM block in `data`, in order; headers dropped, a bad body raises."""
    found = []
    for index, block in enumerate(scan(data), 1):
        if not block.complete:
            raise PemError(f"PEM block {index} ({block.type}): no END line")
        if not block.der:
            problem = "not valid base64" if block.der is None else "empty"
            raise PemError(f"PEM block {index} ({block.type}): {problem}")
        found.append(Block(block.type, block.der))
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


def encode_block(block_type: str, der: bytes) -> str:
    b64 = base64.b64encode(der).decode("ascii")
    lines = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN {block_type}-----\n{lines}\n-----END {block_type}-----\n"


def encode(certs: tuple[x509.Certificate, ...] | list[x509.Certificate]) -> str:
    return "".join(
        encode_block(CERTIFICATE, cert.public_bytes(serialization.Encoding.DER)) for cert in certs
    )


def public_key(cert: x509.Certificate) -> CertificatePublicKeyTypes:
    try:
        return cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise PemError("certificate has an unsupported or malformed public key") from None


def _scanned(kind: str, lines: list[str]) -> Scanned:
    has_headers = any(":" in line for line in lines)  # RFC 1421 headers, then a blank line
    if has_headers:
        lines = lines[lines.index("") + 1 :] if "" in lines else []
    try:
        der = base64.b64decode("".join(lines), validate=True)
    except (binascii.Error, ValueError):
        return Scanned(kind, None, has_headers)
    return Scanned(kind, der, has_headers)


def load_der_certificate(der: bytes) -> x509.Certificate:
    """A DER certificate with the parts cryptography parses lazily (subject, issuer,
    extensions) parsed now, so a malformed one raises here (one of `PARSE_ERRORS`), not at
    first use."""
    cert = x509.load_der_x509_certificate(der)
    cert.extensions  # noqa: B018
    cert.subject  # noqa: B018
    cert.issuer  # noqa: B018
    return cert


def _certificate(block: Block, index: int) -> x509.Certificate:
    try:
        cert = load_der_certificate(block.der)
    except PARSE_ERRORS:
        raise PemError(f"PEM block {index}: not a valid X.509 certificate") from None
    return cert


def _private_key(block: Block, index: int) -> PrivateKeyTypes:
    try:
        return serialization.load_der_private_key(block.der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm, InternalError):
        # InternalError: OpenSSL refusing a key it parsed, e.g. an Ed448 key of 32 bytes.
        # Never echo the cause: it may describe key bytes.
        raise PemError(f"PEM block {index}: not an unencrypted PKCS#8 private key") from None
