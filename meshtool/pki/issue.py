"""Leaf issuance: one function from a public key, a profile and a CA to a PEM chain.

The times follow kube-apiserver's PodCertificateRequest status validation exactly: all are aware
UTC whole seconds; notBefore is now minus a backdate under 5 minutes; the lifetime is the
shortest of the policy maximum, the request's `maxExpirationSeconds` and what is left of the CA,
and at least 1 hour; beginRefreshAt lies in [notBefore + 10 min, notAfter - 10 min].

When the CA has too little validity left for a 1-hour leaf, the answer is `CannotIssue`, a value
meaning "not now, ask again later" (the caller retries; it is never a terminal Failed).

Leaves have an empty Subject, so the SAN extension is critical (RFC 5280 4.1.2.6). They carry
KeyUsage digitalSignature (critical), BasicConstraints cA=false (critical), SKI, AKI, an optional
EKU and the profile's extra extensions. This is the hot path: everything derivable from the CA is
precomputed on the `CA` value, so a call builds and signs one certificate and nothing else. What
goes into the SANs is the signer's business; a malformed name raises `ValueError`.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ObjectIdentifier

from meshtool.clock import Clock
from meshtool.pki import leafder
from meshtool.pki.capool import CA

_SECOND = dt.timedelta(seconds=1)
_REFRESH_MARGIN = dt.timedelta(minutes=10)
_MAX_BACKDATE = dt.timedelta(minutes=5)
_MIN_LIFETIME = dt.timedelta(hours=1)
_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
_BASIC_CONSTRAINTS = x509.BasicConstraints(ca=False, path_length=None)
_FIXED_EXTENSIONS = leafder.extension(_KEY_USAGE, critical=True) + leafder.extension(
    _BASIC_CONSTRAINTS, critical=True
)
_FIXED_OIDS = (_KEY_USAGE.oid, _BASIC_CONSTRAINTS.oid)


@dataclass(frozen=True, slots=True)
class LeafProfile:
    dns_names: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    extended_key_usages: tuple[ObjectIdentifier, ...] = ()
    extra_extensions: tuple[tuple[x509.ExtensionType, bool], ...] = ()
    """(extension, critical) pairs appended as given."""


@dataclass(frozen=True, slots=True)
class LifetimePolicy:
    max_lifetime: dt.timedelta = dt.timedelta(hours=24)
    min_lifetime: dt.timedelta = _MIN_LIFETIME
    """Below this we do not issue; kube-apiserver itself rejects leaves shorter than 1 hour."""
    backdate: dt.timedelta = dt.timedelta(minutes=2)
    """Tolerates clock skew; kube-apiserver rejects a notBefore 5 minutes or more in the past."""
    refresh_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not dt.timedelta(0) <= self.backdate < _MAX_BACKDATE:
            raise ValueError("LifetimePolicy: backdate must be in [0, 5m)")
        if self.min_lifetime < _MIN_LIFETIME:
            raise ValueError("LifetimePolicy: min_lifetime must be at least 1h")
        if self.max_lifetime < self.min_lifetime:
            raise ValueError("LifetimePolicy: max_lifetime must be at least min_lifetime")
        if not 0.0 < self.refresh_fraction < 1.0:
            raise ValueError("LifetimePolicy: refresh_fraction must be in (0, 1)")


@dataclass(frozen=True, slots=True)
class IssuedLeaf:
    chain_pem: str
    """The leaf's PEM, then each intermediate's."""
    certificate: x509.Certificate
    not_before: dt.datetime
    not_after: dt.datetime
    begin_refresh_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CannotIssue:
    reason: str
    message: str
    retry_after: float
    """Seconds."""


CA_NOT_USABLE = "CANotUsable"
LIFETIME_TOO_SHORT = "LifetimeTooShort"
_RETRY_AFTER = 300.0


def issue_leaf(
    *,
    public_key: CertificatePublicKeyTypes,
    profile: LeafProfile,
    max_expiration_seconds: int,
    ca: CA,
    clock: Clock,
    policy: LifetimePolicy = LifetimePolicy(),
) -> IssuedLeaf | CannotIssue:
    not_before = clock.now().astimezone(dt.UTC).replace(microsecond=0) - _whole(policy.backdate)
    requested = dt.timedelta(seconds=max_expiration_seconds)
    lifetime = _whole(min(policy.max_lifetime, requested, ca.not_after - not_before))
    if lifetime < policy.min_lifetime:
        return _cannot_issue(lifetime, requested, ca, policy)
    not_after = not_before + lifetime
    cert = _sign(public_key, profile, ca, not_before, not_after)
    return IssuedLeaf(
        chain_pem=cert.public_bytes(Encoding.PEM).decode("ascii") + ca.intermediates_pem,
        certificate=cert,
        not_before=not_before,
        not_after=not_after,
        begin_refresh_at=begin_refresh_at(not_before, not_after, policy.refresh_fraction),
    )


def begin_refresh_at(
    not_before: dt.datetime, not_after: dt.datetime, fraction: float
) -> dt.datetime:
    """notBefore + fraction of the lifetime, in whole seconds, kept 10 min from either end."""
    lifetime_seconds = (not_after - not_before) // _SECOND
    at = not_before + dt.timedelta(seconds=int(lifetime_seconds * fraction))
    return max(not_before + _REFRESH_MARGIN, min(at, not_after - _REFRESH_MARGIN))


def serial_number() -> int:
    """Random, positive, at most 127 bits, so its DER INTEGER is at most 16 bytes."""
    return secrets.randbits(127) or 1


def _sign(
    public_key: CertificatePublicKeyTypes,
    profile: LeafProfile,
    ca: CA,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    info = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return leafder.certificate(
        ca.leaf_signer,
        serial=serial_number(),
        not_before=not_before,
        not_after=not_after,
        public_key_info=info,
        extensions=_extensions(info, profile, ca),
    )


def _extensions(info: bytes, profile: LeafProfile, ca: CA) -> list[bytes]:
    """The leaf's extensions, DER, in the documented order; a duplicate OID is refused."""
    extensions = [_FIXED_EXTENSIONS]
    oids = {*_FIXED_OIDS, x509.SubjectKeyIdentifier.oid, x509.AuthorityKeyIdentifier.oid}
    if profile.dns_names or profile.uris:
        # The Subject is always empty, so the SAN must be critical.
        extensions.append(_san(profile.dns_names, profile.uris))
        oids.add(x509.SubjectAlternativeName.oid)
    if profile.extended_key_usages:
        extensions.append(_extended_key_usage(profile.extended_key_usages))
        oids.add(x509.ExtendedKeyUsage.oid)
    extensions += [
        leafder.subject_key_identifier_extension(info),
        ca.leaf_signer.authority_key_identifier,
    ]
    for ext, critical in profile.extra_extensions:
        if ext.oid in oids:
            raise ValueError("LeafProfile: an extra extension duplicates another extension")
        oids.add(ext.oid)
        extensions.append(_extra(ext, critical))
    return extensions


def _san(dns_names: tuple[str, ...], uris: tuple[str, ...]) -> bytes:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    names += [x509.UniformResourceIdentifier(uri) for uri in uris]
    return leafder.extension(x509.SubjectAlternativeName(names), critical=True)


@functools.lru_cache(maxsize=64)
def _extended_key_usage(usages: tuple[ObjectIdentifier, ...]) -> bytes:
    return leafder.extension(x509.ExtendedKeyUsage(list(usages)), critical=False)


@functools.lru_cache(maxsize=256)
def _extra(ext: x509.ExtensionType, critical: bool) -> bytes:
    """A profile's extra extension (the issuer's caIssuers URL: the same object every time)."""
    return leafder.extension(ext, critical=critical)


def _whole(delta: dt.timedelta) -> dt.timedelta:
    return dt.timedelta(seconds=delta // _SECOND)


def _cannot_issue(
    lifetime: dt.timedelta, requested: dt.timedelta, ca: CA, policy: LifetimePolicy
) -> CannotIssue:
    if requested < policy.min_lifetime:
        return CannotIssue(
            reason=LIFETIME_TOO_SHORT,
            message=f"maxExpirationSeconds {requested // _SECOND} is below the minimum "
            f"lifetime {policy.min_lifetime // _SECOND}s",
            retry_after=_RETRY_AFTER,
        )
    return CannotIssue(
        reason=CA_NOT_USABLE,
        message=f'CA "{ca.id}" expires at {ca.not_after.isoformat()}, leaving {lifetime} '
        f"for a new leaf, less than the minimum {policy.min_lifetime}",
        retry_after=_RETRY_AFTER,
    )
