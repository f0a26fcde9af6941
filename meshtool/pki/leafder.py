"""A leaf certificate written straight to DER, then signed: the issuance hot path's encoder.

Why: `cryptography`'s `CertificateBuilder` spends about half of a leaf's cost in reading its
Python extension objects back and encoding them, every time (docs/decisions/0010 has the
figures). Our leaves have one fixed shape, so this module writes that shape directly and asks
the CA key only for the signature:

    Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
    TBSCertificate ::= SEQUENCE { [0] version v3, serialNumber, signature, issuer, validity,
                                  subject, subjectPublicKeyInfo, [3] extensions }

Invariants:
- the bytes are exactly what `CertificateBuilder` writes for the same inputs (tests compare
  the DER byte for byte, for every CA key type we sign with): the same extension order, UTCTime
  for 1950-2049 and GeneralizedTime outside it (RFC 5280 4.1.2.5), a positive serial in minimal
  two's complement, the subject and issuer as given;
- what the CA contributes (algorithm identifier, issuer Name, how to sign) is computed once per
  CA (`Signer`); an extension value's DER comes from `cryptography` itself
  (`ExtensionType.public_bytes`), so only the outer structures are written here;
- the result is parsed back with `cryptography` before it is returned, so a malformed encoding
  can never leave this module (it raises `ValueError`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

SigningKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_SEQUENCE, _INTEGER, _BIT_STRING, _OCTET_STRING, _OID = 0x30, 2, 3, 4, 6
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18
_VERSION_3 = b"\xa0\x03\x02\x01\x02"
_EMPTY_NAME = b"\x30\x00"
_CRITICAL = b"\x01\x01\xff"
_ECDSA_OIDS = {
    "sha256": "1.2.840.10045.4.3.2",
    "sha384": "1.2.840.10045.4.3.3",
    "sha512": "1.2.840.10045.4.3.4",
}
_RSA_SHA256 = "1.2.840.113549.1.1.11"
_ED25519 = "1.3.101.112"
_NULL = b"\x05\x00"


def tlv(tag: int, content: bytes) -> bytes:
    """One DER element: tag, definite length, content."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


@functools.lru_cache(maxsize=128)
def oid(dotted: str) -> bytes:
    """The DER OBJECT IDENTIFIER for a dotted string (remembered: a leaf's extensions name the
    same few OIDs every time)."""
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray(_base128(40 * arcs[0] + arcs[1]))
    for arc in arcs[2:]:
        body += _base128(arc)
    return tlv(_OID, bytes(body))


def _base128(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def integer(value: int) -> bytes:
    """A non-negative INTEGER, minimal and positive (a leading zero when the top bit is set)."""
    return tlv(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def time(t: dt.datetime) -> bytes:
    """Validity time as RFC 5280 wants it: UTCTime for 1950-2049, else GeneralizedTime; UTC,
    whole seconds (a fraction is dropped, as `CertificateBuilder` drops it)."""
    t = t.astimezone(dt.UTC)
    fields = (t.month, t.day, t.hour, t.minute, t.second)
    if 1950 <= t.year < 2050:
        return tlv(_UTC_TIME, b"%02d%02d%02d%02d%02d%02dZ" % (t.year % 100, *fields))
    return tlv(_GENERALIZED_TIME, b"%04d%02d%02d%02d%02d%02dZ" % (t.year, *fields))


def extension(value: x509.ExtensionType, *, critical: bool) -> bytes:
    """An Extension SEQUENCE: its OID, the critical flag when set, the value's DER."""
    flag = _CRITICAL if critical else b""
    return tlv(
        _SEQUENCE, oid(value.oid.dotted_string) + flag + tlv(_OCTET_STRING, value.public_bytes())
    )


@dataclass(frozen=True, slots=True)
class Signer:
    """What a CA puts into every leaf, and how its key signs; one per CA, made by `signer_for`."""

    algorithm: bytes
    """The DER AlgorithmIdentifier, written twice in each certificate."""
    issuer: bytes
    """The DER Name of the issuing certificate's subject."""
    authority_key_identifier: bytes
    """The leaf's AuthorityKeyIdentifier extension, DER."""
    sign: Callable[[bytes], bytes]


def signer_for(
    key: SigningKey,
    hash_algorithm: hashes.HashAlgorithm | None,
    issuer: x509.Name,
    authority_key_identifier: x509.AuthorityKeyIdentifier,
) -> Signer:
    name = issuer.public_bytes()
    aki = extension(authority_key_identifier, critical=False)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Signer(tlv(_SEQUENCE, oid(_ED25519)), name, aki, key.sign)
    if hash_algorithm is None:
        raise ValueError("an ECDSA or RSA CA key needs a hash algorithm")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = ec.ECDSA(hash_algorithm)
        return Signer(
            tlv(_SEQUENCE, oid(_ECDSA_OIDS[hash_algorithm.name])),
            name,
            aki,
            lambda tbs: key.sign(tbs, algorithm),
        )
    if isinstance(key, rsa.RSAPrivateKey) and hash_algorithm.name == "sha256":
        return Signer(
            tlv(_SEQUENCE, oid(_RSA_SHA256) + _NULL),
            name,
            aki,
            lambda tbs: key.sign(tbs, padding.PKCS1v15(), hash_algorithm),
        )
    raise ValueError(f"cannot sign leaves with a {type(key).__name__} and {hash_algorithm.name}")


def certificate(
    signer: Signer,
    *,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    public_key_info: bytes,
    extensions: Iterable[bytes],
) -> x509.Certificate:
    """Sign a leaf with an empty Subject; `extensions` are `extension()` DERs, in order."""
    tbs = tlv(
        _SEQUENCE,
        _VERSION_3
        + integer(serial)
        + signer.algorithm
        + signer.issuer
        + tlv(_SEQUENCE, time(not_before) + time(not_after))
        + _EMPTY_NAME
        + public_key_info
        + tlv(0xA3, tlv(_SEQUENCE, b"".join(extensions))),
    )
    signature = tlv(_BIT_STRING, b"\x00" + signer.sign(tbs))
    return x509.load_der_x509_certificate(tlv(_SEQUENCE, tbs + signer.algorithm + signature))


def subject_key_identifier_extension(public_key_info: bytes) -> bytes:
    """The SubjectKeyIdentifier extension (non-critical) by RFC 5280 4.2.1.2 method 1, as
    `SubjectKeyIdentifier.from_public_key` computes it: the SHA-1 of the subjectPublicKey BIT
    STRING's bits, read out of a DER SubjectPublicKeyInfo."""
    algorithm = _content(public_key_info, 0)
    bits = _content(public_key_info, _end(public_key_info, algorithm))
    digest = hashlib.sha1(public_key_info[bits + 1 :]).digest()
    ski = oid(x509.SubjectKeyIdentifier.oid.dotted_string)
    return tlv(_SEQUENCE, ski + tlv(_OCTET_STRING, tlv(_OCTET_STRING, digest)))


def _content(der: bytes, at: int) -> int:
    """Where the content of the element at `at` starts."""
    first = der[at + 1]
    return at + 2 + (first & 0x7F if first & 0x80 else 0)


def _end(der: bytes, at: int) -> int:
    """Where the element at `at` ends."""
    first, start = der[at + 1], _content(der, at)
    if not first & 0x80:
        return start + first
    return start + int.from_bytes(der[at + 2 : start], "big")
