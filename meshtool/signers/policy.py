"""What every meshtool signer checks before it derives an identity, and how it then issues.

`check` applies the request rules shared by all signers, in this order:
1. an unreadable key is Denied `InvalidRequest`, naming the problem;
2. a key outside the signer's `KeyPolicy` (default: all six Kubernetes types) is Denied
   `UnsupportedKeyType`, naming the key and the types that are accepted;
3. any `unverifiedUserAnnotations` key the signer does not document is Denied
   `InvalidUnverifiedUserAnnotations`, naming the key. A signer documents its keys as an
   `Annotations` mapping (key -> meaning); the upstream API asks signers to deny unknown
   keys so that a typo is not silently ignored. Signers declare them as a class attribute
   `ANNOTATIONS`, next to the code that reads them.
A request that passes comes back as `Accepted`, carrying its key narrowed to a certificate key.

`sign` signs with the pool's signing CA. pki's `CannotIssue` (CA too close to expiry,
lifetime too short) becomes `NotYet`, never `Failed`: both are transient or operator-fixable,
and a Failed condition would end the pod's request for good.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PublicKeyTypes,
)

from meshtool.api import decisions
from meshtool.api import keys as api_keys
from meshtool.api.decisions import Denied, Issued, NotYet
from meshtool.api.types import KeyType, PodCertRequest
from meshtool.pki import issue

if TYPE_CHECKING:
    from meshtool.clock import Clock
    from meshtool.pki.capool import CAPool

ALL_KEY_TYPES = frozenset(KeyType)
Annotations = Mapping[str, str]
"""Documented unverifiedUserAnnotations keys of a signer, each with what it means."""
NO_ANNOTATIONS: Annotations = MappingProxyType({})
_CERTIFICATE_KEYS = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)


@dataclass(frozen=True, slots=True)
class Accepted:
    public_key: CertificatePublicKeyTypes


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """Which of the six Kubernetes key types a signer accepts (default: all)."""

    accepted: frozenset[KeyType] = ALL_KEY_TYPES

    def __post_init__(self) -> None:
        if not self.accepted:
            raise ValueError("KeyPolicy: accepted must name at least one key type")


def check(
    request: PodCertRequest, *, keys: KeyPolicy, signer_name: str, annotations: Annotations
) -> Accepted | Denied:
    key = request.public_key
    if request.key_error is not None or key is None:
        problem = request.key_error or "the request carries no public key"
        return Denied(decisions.INVALID_REQUEST, f"cannot read the public key: {problem}")
    if request.key_type not in keys.accepted or not isinstance(key, _CERTIFICATE_KEYS):
        return Denied(decisions.UNSUPPORTED_KEY_TYPE, _unsupported(key, keys, signer_name))
    unknown = sorted(k for k in request.user_annotations if k not in annotations)
    if unknown:
        message = _unknown_annotation(unknown[0], signer_name, annotations)
        return Denied(decisions.INVALID_USER_ANNOTATIONS, message)
    return Accepted(key)


def sign(
    request: PodCertRequest,
    accepted: Accepted,
    *,
    profile: issue.LeafProfile,
    pool: CAPool,
    clock: Clock,
    lifetime: issue.LifetimePolicy,
    summary: str,
) -> Issued | NotYet:
    """Sign `profile` for the accepted key with the pool's signing CA; `summary` says what was
    certified, for the Issued message."""
    ca = pool.signing_ca
    leaf = issue.issue_leaf(
        public_key=accepted.public_key,
        profile=profile,
        max_expiration_seconds=request.max_expiration_seconds,
        ca=ca,
        clock=clock,
        policy=lifetime,
    )
    if isinstance(leaf, issue.CannotIssue):
        return NotYet(leaf.reason, leaf.message, leaf.retry_after)
    return Issued(
        chain_pem=leaf.chain_pem,
        not_before=leaf.not_before,
        not_after=leaf.not_after,
        begin_refresh_at=leaf.begin_refresh_at,
        message=f"issued by CA {ca.id!r} for {summary}",
    )


def _unsupported(key: PublicKeyTypes, keys: KeyPolicy, signer_name: str) -> str:
    accepted = ", ".join(sorted(t.value for t in keys.accepted))
    name = api_keys.describe(key)
    return f"key type {name} is not accepted by {signer_name}; use one of {accepted}"


def _unknown_annotation(key: str, signer_name: str, annotations: Annotations) -> str:
    known = ", ".join(sorted(annotations)) or "none"
    return (
        f"unverifiedUserAnnotations key {key!r} is not understood by {signer_name} "
        f"(documented keys: {known})"
    )
