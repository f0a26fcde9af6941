"""CA pools: the signing CAs a signer holds, stored as JSON under the Secret key `pool`.

The JSON is the reference Go implementation's (`localca.Pool`, written by `encoding/json`):
`{"CAs":[{"ID":..,"SigningKeyPKCS8":..,"RootCertificateDER":..,"IntermediateCertificatesDER":..}]}`
with byte fields as standard padded base64 and `null` for no intermediates. `dump` writes that
exact compact form, so `dump(load(dump(p))) == dump(p)` byte for byte; `load` also accepts the
same JSON with any whitespace, and absent intermediates. Field names are matched exactly (Go
would also match them case-insensitively) and unknown fields are ignored, as in Go.

Invariants `load` enforces (errors name the CA id and the field): at least one CA; unique ids;
every certificate a CA (BasicConstraints cA=true); each intermediate issued by the next one and
the last by the root; the signing key matching its CA's issuing certificate (`intermediates[0]`,
else the root); and `cas[0]`, the signing CA, unexpired. Other CAs only contribute trust anchors
during rotation; an expired one is kept (a verifier rejects chains through it anyway) so that a
pool round-trips unchanged; removing it is the operator's last rotation step.

A `CA` derives what issuance needs (issuer name, AuthorityKeyIdentifier, signature hash, the
intermediates' PEM) once at construction, so issuing a leaf re-encodes nothing. No I/O here.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from meshtool.clock import Clock
from meshtool.pki import pem

SECRET_KEY = "pool"
KEY_TYPES = ("ed25519", "ecdsa-p256")

SigningKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
HashAlgorithm = hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None

_CURVE_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}
_CA_BACKDATE = dt.timedelta(minutes=5)
_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
# What Go's encoding/json escapes beyond what Python's json.dumps(ensure_ascii=False) does.
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


class CAPoolError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CA:
    id: str
    signing_key: SigningKey
    root: x509.Certificate
    intermediates: tuple[x509.Certificate, ...] = ()

    # Derived once in __post_init__ for the issuance hot path.
    issuer_name: x509.Name = field(init=False, repr=False, compare=False)
    authority_key_identifier: x509.AuthorityKeyIdentifier = field(
        init=False, repr=False, compare=False
    )
    hash_algorithm: HashAlgorithm = field(init=False, repr=False, compare=False)
    intermediates_pem: str = field(init=False, repr=False, compare=False)
    _not_after: dt.datetime = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        issuer = self.issuer_cert
        derived = {
            "issuer_name": issuer.subject,
            "authority_key_identifier": _authority_key_identifier(self),
            "hash_algorithm": _hash_for(self.signing_key, self.id),
            "intermediates_pem": "".join(
                cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
                for cert in self.intermediates
            ),
            "_not_after": min(c.not_valid_after_utc for c in (self.root, *self.intermediates)),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def issuer_cert(self) -> x509.Certificate:
        """The certificate whose key signs leaves: the first intermediate, else the root."""
        return self.intermediates[0] if self.intermediates else self.root

    @property
    def not_after(self) -> dt.datetime:
        """When the first certificate of the CA's chain expires (aware UTC)."""
        return self._not_after


@dataclass(frozen=True, slots=True)
class CAPool:
    cas: tuple[CA, ...]
    """Non-empty, ids unique; `cas[0]` signs."""

    def __post_init__(self) -> None:
        if not self.cas:
            raise CAPoolError("pool: CAs: the pool is empty")
        seen: set[str] = set()
        for ca in self.cas:
            if ca.id in seen:
                raise CAPoolError(f"{_where(ca.id)}: ID: duplicate CA id")
            seen.add(ca.id)

    @property
    def signing_ca(self) -> CA:
        return self.cas[0]

    def trust_anchors(self) -> tuple[x509.Certificate, ...]:
        """The roots of all CAs, de-duplicated by DER, in pool order."""
        by_der = {ca.root.public_bytes(serialization.Encoding.DER): ca.root for ca in self.cas}
        return tuple(by_der.values())


def load(data: bytes | str, *, clock: Clock) -> CAPool:
    """Parse and validate pool JSON; raises `CAPoolError` naming the CA id and field."""
    entries = _entries(_json(data))
    pool = CAPool(tuple(_load_ca(entry, index) for index, entry in enumerate(entries)))
    signing = pool.signing_ca
    if signing.not_after <= clock.now():
        raise CAPoolError(
            f"{_where(signing.id)}: {_expiring_field(signing)}: the signing CA expired at "
            f"{signing.not_after.isoformat()}"
        )
    return pool


def dump(pool: CAPool) -> bytes:
    """Compact JSON exactly as Go's `json.Marshal` writes it."""
    wire = {"CAs": [_dump_ca(ca) for ca in pool.cas]}
    text = json.dumps(wire, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def generate_ca(
    *,
    ca_id: str,
    name: str,
    key_type: str = "ed25519",
    clock: Clock,
    validity: dt.timedelta = dt.timedelta(days=365),
) -> CA:
    """A fresh self-signed root CA whose subject CN is "<name> CA <ca_id>"."""
    if not ca_id:
        raise ValueError("CA id must not be empty")
    key = _generate_key(key_type)
    now = clock.now().astimezone(dt.UTC).replace(microsecond=0)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _common_name(name, ca_id))])
    root = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CA_BACKDATE)
        .not_valid_after(now + dt.timedelta(seconds=validity // dt.timedelta(seconds=1)))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, _hash_for(key, ca_id))
    )
    return CA(id=ca_id, signing_key=key, root=root)


def new_pool(*, ca_id: str, name: str, key_type: str = "ed25519", clock: Clock) -> CAPool:
    return CAPool((generate_ca(ca_id=ca_id, name=name, key_type=key_type, clock=clock),))


# --- loading ---------------------------------------------------------------------------------


def _json(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise CAPoolError("pool: not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        # The message holds only a position, never the document.
        raise CAPoolError(f"pool: not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except RecursionError:
        raise CAPoolError("pool: not valid JSON: nested too deeply") from None


def _entries(wire: Any) -> list[Any]:
    if not isinstance(wire, dict):
        raise CAPoolError("pool: expected a JSON object")
    entries = wire.get("CAs")
    if entries is None or entries == []:
        raise CAPoolError("pool: CAs: the pool is empty")
    if not isinstance(entries, list):
        raise CAPoolError("pool: CAs: expected a list")
    return entries


def _load_ca(entry: Any, index: int) -> CA:
    if not isinstance(entry, dict):
        raise CAPoolError(f"CAs[{index}]: expected a JSON object")
    ca_id = entry.get("ID")
    if not isinstance(ca_id, str) or not ca_id:
        raise CAPoolError(f"CAs[{index}]: ID: expected a non-empty string")
    if not ca_id.isprintable():
        raise CAPoolError(f"CAs[{index}]: ID: not printable text")
    where = _where(ca_id)
    key = _signing_key(_bytes(entry, "SigningKeyPKCS8", where), where)
    root = _ca_cert(_bytes(entry, "RootCertificateDER", where), f"{where}: RootCertificateDER")
    intermediates = _intermediates(entry.get("IntermediateCertificatesDER"), where)
    _check_chain(root, intermediates, where)
    _check_key_matches(key, root, intermediates, where)
    return CA(id=ca_id, signing_key=key, root=root, intermediates=intermediates)


def _bytes(entry: dict[str, Any], name: str, where: str) -> bytes:
    return _b64(entry.get(name), f"{where}: {name}")


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise CAPoolError(f"{where}: missing (expected a base64 string)")
    try:
        # Go's decoder skips CR and LF; everything else must be strict padded base64.
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise CAPoolError(f"{where}: not valid base64") from None


def _signing_key(der: bytes, where: str) -> SigningKey:
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Never chain or echo the cause: it may describe key bytes.
        raise CAPoolError(f"{where}: SigningKeyPKCS8: not a PKCS#8 private key") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name not in _CURVE_HASHES:
        raise CAPoolError(f"{where}: SigningKeyPKCS8: unsupported curve {key.curve.name}")
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ):
        raise CAPoolError(f"{where}: SigningKeyPKCS8: unsupported key type")
    return key


def _ca_cert(der: bytes, where: str) -> x509.Certificate:
    try:
        cert = x509.load_der_x509_certificate(der)
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise CAPoolError(f"{where}: not a CA certificate (no BasicConstraints)") from None
    except pem.PARSE_ERRORS:
        raise CAPoolError(f"{where}: not a parsable X.509 certificate") from None
    if not constraints.ca:
        raise CAPoolError(f"{where}: not a CA certificate (BasicConstraints cA=false)")
    return cert


def _intermediates(value: Any, where: str) -> tuple[x509.Certificate, ...]:
    if value is None:
        return ()
    name = "IntermediateCertificatesDER"
    if not isinstance(value, list):
        raise CAPoolError(f"{where}: {name}: expected a list or null")
    return tuple(
        _ca_cert(_b64(item, f"{where}: {name}[{i}]"), f"{where}: {name}[{i}]")
        for i, item in enumerate(value)
    )


def _check_chain(
    root: x509.Certificate, intermediates: tuple[x509.Certificate, ...], where: str
) -> None:
    """Each intermediate must be issued by the next one, the last by the root."""
    if not intermediates:
        return
    issuers = (*intermediates[1:], root)
    for i, (cert, issuer) in enumerate(zip(intermediates, issuers, strict=True)):
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            raise CAPoolError(
                f"{where}: IntermediateCertificatesDER[{i}]: not issued by "
                f"{'the root' if issuer is root else f'IntermediateCertificatesDER[{i + 1}]'}"
            ) from None


def _check_key_matches(
    key: SigningKey,
    root: x509.Certificate,
    intermediates: tuple[x509.Certificate, ...],
    where: str,
) -> None:
    issuer = intermediates[0] if intermediates else root
    name = "IntermediateCertificatesDER[0]" if intermediates else "RootCertificateDER"
    try:
        matches = issuer.public_key() == key.public_key()
    except (ValueError, UnsupportedAlgorithm):
        matches = False
    if not matches:
        raise CAPoolError(f"{where}: SigningKeyPKCS8: does not match the key of {name}")


def _expiring_field(ca: CA) -> str:
    for i, cert in enumerate(ca.intermediates):
        if cert.not_valid_after_utc == ca.not_after:
            return f"IntermediateCertificatesDER[{i}]"
    return "RootCertificateDER"


# --- building --------------------------------------------------------------------------------


def _dump_ca(ca: CA) -> dict[str, Any]:
    pkcs8 = ca.signing_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    der = serialization.Encoding.DER
    return {
        "ID": ca.id,
        "SigningKeyPKCS8": _b64encode(pkcs8),
        "RootCertificateDER": _b64encode(ca.root.public_bytes(der)),
        "IntermediateCertificatesDER": [_b64encode(c.public_bytes(der)) for c in ca.intermediates]
        or None,
    }


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _generate_key(key_type: str) -> SigningKey:
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported CA key type {key_type!r}; use one of {', '.join(KEY_TYPES)}")


def _hash_for(key: SigningKey, ca_id: str) -> HashAlgorithm:
    """The signature hash for a CA key: none for Ed25519, by curve size for ECDSA."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _CURVE_HASHES:
        return _CURVE_HASHES[key.curve.name]()
    raise CAPoolError(f"{_where(ca_id)}: SigningKeyPKCS8: unsupported key type")


def _common_name(name: str, ca_id: str) -> str:
    # X.520 caps a CN at 64 characters; the signer name is the part we shorten.
    suffix = f"CA {ca_id}"
    room = 64 - len(suffix) - 1
    if not name or room <= 0:
        return suffix[:64]
    return f"{name[:room]} {suffix}"


def _authority_key_identifier(ca: CA) -> x509.AuthorityKeyIdentifier:
    """The issuer's SKI if it has one, else derived from its key (which is the signing key)."""
    try:
        ext = ca.issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.signing_key.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ext.value)


def _where(ca_id: str) -> str:
    return f'CA "{ca_id}"'
