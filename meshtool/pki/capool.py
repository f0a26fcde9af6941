"""CA pools: the signing CAs a signer holds, stored as JSON under the Secret key `pool`.

The JSON is the reference Go implementation's (`localca.Pool`, written by `encoding/json`):
`{"CAs":[{"ID":..,"SigningKeyPKCS8":..,"RootCertificateDER":..,"IntermediateCertificatesDER":..}]}`
with byte fields as standard padded base64 and `null` for no intermediates. `dump` writes that
exact compact form, so `dump(load(dump(p))) == dump(p)` byte for byte; `load` also accepts the
same JSON with any whitespace, and absent intermediates. Field names are matched exactly (Go
would also match them case-insensitively) and unknown fields are ignored, as in Go.

Lifecycle state (`CAState`) rides in extra per-CA fields that Go ignores: `"Role"` and the
RFC 3339 times `"PreparedAt"`, `"PublishedAt"`, `"ActivatedAt"`, `"RetiredAt"` (absent when
unknown). A CA without recorded state is dumped without them, so pools carrying no extra state
still round-trip byte for byte; the active CA is always first, so Go signs with it too.

Invariants `load` enforces (errors name the CA id and the field): at least one CA; unique ids;
every certificate a CA; each intermediate issued by the next one and the last by the root; the
signing key matching its CA's issuing certificate; and `cas[0]`, the signing CA, unexpired.
An expired CA further down is kept (verifiers reject chains through it anyway), so a pool
round-trips unchanged; removing it is the last rotation step.

The values and fresh-CA generation live in `meshtool.pki.ca` (re-exported here); this module
is the Go-compatible JSON codec and its validation. No I/O.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from cryptography import x509
from cryptography.exceptions import InternalError, InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from meshtool.clock import Clock, format_rfc3339
from meshtool.pki import pem
from meshtool.pki.ca import (
    CA,
    CURVE_HASHES,
    KEY_TYPES,
    CAPool,
    CAPoolError,
    CAState,
    HashAlgorithm,
    Role,
    SigningKey,
    generate_ca,
    label,
    new_pool,
)

__all__ = [
    "CA",
    "KEY_TYPES",
    "SECRET_KEY",
    "CAPool",
    "CAPoolError",
    "CAState",
    "HashAlgorithm",
    "Role",
    "SigningKey",
    "dump",
    "generate_ca",
    "load",
    "new_pool",
]

SECRET_KEY = "pool"
_TIME_FIELDS = (
    ("PreparedAt", "prepared_at"),
    ("PublishedAt", "published_at"),
    ("ActivatedAt", "activated_at"),
    ("RetiredAt", "retired_at"),
)

# What Go's encoding/json escapes beyond what Python's json.dumps(ensure_ascii=False) does.
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def load(data: bytes | str, *, clock: Clock, allow_expired: bool = False) -> CAPool:
    """Parse and validate pool JSON; raises `CAPoolError` naming the CA id and field.
    `allow_expired` accepts an expired signing CA (for inspecting, never for signing)."""
    entries = _entries(_json(data))
    pool = CAPool(tuple(_load_ca(entry, index) for index, entry in enumerate(entries)))
    signing = pool.signing_ca
    if not allow_expired and signing.not_after <= clock.now():
        raise CAPoolError(
            f"{label(signing.id)}: {_expiring_field(signing)}: the signing CA expired at "
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
    except ValueError:  # a number past Python's 4300-digit limit
        raise CAPoolError("pool: not valid JSON: a number is too long") from None


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
    where = label(ca_id)
    key = _signing_key(_bytes(entry, "SigningKeyPKCS8", where), where)
    root = _ca_cert(_bytes(entry, "RootCertificateDER", where), f"{where}: RootCertificateDER")
    intermediates = _intermediates(entry.get("IntermediateCertificatesDER"), where)
    _check_chain(root, intermediates, where)
    _check_key_matches(key, root, intermediates, where)
    state = _state(entry, where)
    return CA(id=ca_id, signing_key=key, root=root, intermediates=intermediates, state=state)


def _state(entry: dict[str, Any], where: str) -> CAState | None:
    role = entry.get("Role")
    if role is None:
        return None
    if not isinstance(role, str) or role not in {r.value for r in Role}:
        raise CAPoolError(f"{where}: Role: expected one of active, prepared, retired")
    times = {attr: _time(entry.get(name), f"{where}: {name}") for name, attr in _TIME_FIELDS}
    return CAState(role=Role(role), **times)


def _time(value: Any, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.endswith("Z"):
        raise CAPoolError(f"{where}: expected an RFC 3339 UTC time like 2026-01-01T00:00:00Z")
    try:
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC)
    except ValueError:
        raise CAPoolError(f"{where}: expected an RFC 3339 UTC time") from None


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
    except (ValueError, TypeError, UnsupportedAlgorithm, InternalError):
        # Never chain or echo the cause: it may describe key bytes.
        raise CAPoolError(f"{where}: SigningKeyPKCS8: not a PKCS#8 private key") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name not in CURVE_HASHES:
        raise CAPoolError(f"{where}: SigningKeyPKCS8: unsupported curve {key.curve.name}")
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ):
        raise CAPoolError(f"{where}: SigningKeyPKCS8: unsupported key type")
    return key


def _ca_cert(der: bytes, where: str) -> x509.Certificate:
    try:
        cert = pem.load_der_certificate(der)
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


# --- dumping ---------------------------------------------------------------------------------


def _dump_ca(ca: CA) -> dict[str, Any]:
    pkcs8 = ca.signing_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    der = serialization.Encoding.DER
    out: dict[str, Any] = {
        "ID": ca.id,
        "SigningKeyPKCS8": _b64encode(pkcs8),
        "RootCertificateDER": _b64encode(ca.root.public_bytes(der)),
        "IntermediateCertificatesDER": [_b64encode(c.public_bytes(der)) for c in ca.intermediates]
        or None,
    }
    if ca.state is not None:
        out["Role"] = ca.state.role.value
        for name, attr in _TIME_FIELDS:
            value = getattr(ca.state, attr)
            if value is not None:
                out[name] = format_rfc3339(value)
    return out


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
