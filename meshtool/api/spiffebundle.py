"""SPIFFE trust bundles as JWK Sets: the one encoder and the one strict parser.

A SPIFFE bundle (SPIFFE Trust Domain and Bundle, section 4) is an RFC 7517 JWK Set. meshtool
reads and writes only its X.509 part: each trust anchor is one JWK with `use: "x509-svid"`, no
`kid`, the public key parameters of the certificate's key (`kty` EC/RSA/OKP) and `x5c` holding
exactly one base64 DER certificate. The set carries `spiffe_sequence` (an integer that grows
with every content change) and `spiffe_refresh_hint` (seconds). A bundle never names its own
trust domain: callers keep it as a `(trust domain, bundle)` pair and never merge two.

Invariants of `parse`, which reads bytes from a federated peer and so trusts nothing:
* the body is a UTF-8 JSON object of at most `MAX_BYTES` with a `keys` list;
* `jwt-svid` keys are ignored (meshtool has no JWT-SVIDs); any other `use` is an error;
* every `x509-svid` key has a `kty` matching its certificate, exactly one `x5c` entry, and that
  certificate is a CA (BasicConstraints cA=true), self-signed (its own signature verifies) and
  not expired at `now`;
* at least one X.509 authority remains (an empty set cannot be published as a
  ClusterTrustBundle, so it is refused rather than read as "revoke everything");
* duplicates (equal DER) collapse, first one kept, so equal inputs give equal bundles.
Every failure is a `BundleError` whose one-line message names the key index and the problem.

`encode` is deterministic: sorted JSON keys, authorities in the given order.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from meshtool.pki import pem

MAX_BYTES = 1 << 20
"""The largest bundle body accepted: 1 MiB, far above any real trust domain's anchors."""

X509_USE = "x509-svid"
JWT_USE = "jwt-svid"


class BundleError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SpiffeBundle:
    x509_authorities: tuple[x509.Certificate, ...]
    sequence: int | None = None
    refresh_hint: int | None = None
    """Seconds; None when the bundle gives no hint."""

    def pem(self) -> str:
        return pem.encode(self.x509_authorities)


def encode(bundle: SpiffeBundle) -> bytes:
    doc: dict[str, Any] = {"keys": [_jwk(cert) for cert in bundle.x509_authorities]}
    if bundle.sequence is not None:
        doc["spiffe_sequence"] = bundle.sequence
    if bundle.refresh_hint is not None:
        doc["spiffe_refresh_hint"] = bundle.refresh_hint
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def parse(data: bytes, *, now: dt.datetime) -> SpiffeBundle:
    doc = _document(data)
    keys = doc.get("keys")
    if not isinstance(keys, list):
        raise BundleError("the bundle has no 'keys' list")
    certs = [cert for index, key in enumerate(keys) if (cert := _authority(key, index, now))]
    if not certs:
        raise BundleError("the bundle holds no x509-svid authority")
    return SpiffeBundle(
        _unique(certs),
        sequence=_integer(doc, "spiffe_sequence", minimum=0),
        refresh_hint=_integer(doc, "spiffe_refresh_hint", minimum=1),
    )


def _document(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_BYTES:
        raise BundleError(f"the bundle is larger than {MAX_BYTES} bytes")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"the bundle is not UTF-8 JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BundleError("the bundle is not a JSON object")
    return doc


def _integer(doc: dict[str, Any], name: str, *, minimum: int) -> int | None:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BundleError(f"{name} must be an integer of at least {minimum}, not {value!r}")
    return value


def _authority(key: object, index: int, now: dt.datetime) -> x509.Certificate | None:
    if not isinstance(key, dict):
        raise BundleError(f"key {index}: not a JSON object")
    use = key.get("use")
    if use == JWT_USE:
        return None
    if use != X509_USE:
        raise BundleError(f"key {index}: use {use!r} is neither {X509_USE!r} nor {JWT_USE!r}")
    cert = _certificate(key, index)
    if key.get("kty") != _kty(cert):
        raise BundleError(f"key {index}: kty {key.get('kty')!r} does not match its certificate")
    _check_ca(cert, index, now)
    return cert


def _certificate(key: dict[str, Any], index: int) -> x509.Certificate:
    chain = key.get("x5c")
    if not isinstance(chain, list) or len(chain) != 1 or not isinstance(chain[0], str):
        raise BundleError(f"key {index}: x5c must hold exactly one certificate")
    try:
        return pem.load_der_certificate(base64.b64decode(chain[0], validate=True))
    except (binascii.Error, *pem.PARSE_ERRORS):
        raise BundleError(f"key {index}: x5c[0] is not a base64 DER certificate") from None


def _check_ca(cert: x509.Certificate, index: int, now: dt.datetime) -> None:
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise BundleError(f"key {index}: the certificate is not a CA")
    if cert.not_valid_after_utc <= now:
        raise BundleError(
            f"key {index}: the CA expired at {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
        )
    if cert.subject != cert.issuer or not _self_signed(cert):
        raise BundleError(f"key {index}: the CA certificate is not self-signed")


def _self_signed(cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _unique(certs: Sequence[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    seen: dict[bytes, x509.Certificate] = {}
    for cert in certs:
        seen.setdefault(cert.public_bytes(Encoding.DER), cert)
    return tuple(seen.values())


def _kty(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC"
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "OKP"
    raise BundleError(f"unsupported CA key type {type(key).__name__}")


def _jwk(cert: x509.Certificate) -> dict[str, Any]:
    der = cert.public_bytes(Encoding.DER)
    return {
        "use": X509_USE,
        "kty": _kty(cert),
        **_key_parameters(cert),
        "x5c": [base64.b64encode(der).decode()],
    }


def _key_parameters(cert: x509.Certificate) -> dict[str, str]:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        size = (key.curve.key_size + 7) // 8
        crv = _CURVES.get(key.curve.name)
        if crv is None:
            raise BundleError(f"unsupported CA curve {key.curve.name}")
        return {"crv": crv, "x": _b64(numbers.x, size), "y": _b64(numbers.y, size)}
    if isinstance(key, rsa.RSAPublicKey):
        rsa_numbers = key.public_numbers()
        return {"n": _b64(rsa_numbers.n), "e": _b64(rsa_numbers.e)}
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    crv = "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "Ed448"
    return {"crv": crv, "x": _urlsafe(raw)}


_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def _b64(number: int, size: int = 0) -> str:
    length = max(size, (number.bit_length() + 7) // 8)
    return _urlsafe(number.to_bytes(length, "big"))


def _urlsafe(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
