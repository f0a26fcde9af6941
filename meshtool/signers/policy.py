"""The one decision skeleton of every meshtool signer: check, derive the identity, issue.

`decide(signer, request, ...)` is the whole decision; a signer parameterises it with what
differs (its name, key policy, lifetime, documented annotations and `leaf`, which derives the
identity and the certificate profile, or says why not). The steps:

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
Then `signer.leaf(request, view)` gives a `Leaf` (profile + what it certifies) or a decision,
`with_issuer` adds the signer's caIssuers extension (the issuing cluster, built once per signer
from `--cluster-issuer`; docs/decisions/0005) to its profile, and `sign` issues it.

`sign` signs with the pool's signing CA. pki's `CannotIssue` (CA too close to expiry,
lifetime too short) becomes `NotYet`, never `Failed`: both are transient or operator-fixable,
and a Failed condition would end the pod's request for good.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from cryptography import x509
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
from meshtool.signers.base import ClusterView

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
class Leaf:
    """What a signer certifies for a request: the profile, and a summary for the message."""

    profile: issue.LeafProfile
    summary: str


class Profiled(Protocol):
    """What a signer supplies to `decide`."""

    @property
    def signer_name(self) -> str: ...

    @property
    def keys(self) -> KeyPolicy: ...

    @property
    def lifetime(self) -> issue.LifetimePolicy: ...

    @property
    def issuer_info(self) -> x509.AuthorityInformationAccess | None: ...

    @property
    def ANNOTATIONS(self) -> Annotations: ...

    def leaf(self, request: PodCertRequest, view: ClusterView) -> Leaf | Denied | NotYet: ...


class Decides:
    """Mixin: a signer's `decide` is `policy.decide` over the signer's own parameters."""

    __slots__ = ()

    def decide(
        self: Profiled, request: PodCertRequest, *, view: ClusterView, pool: CAPool, clock: Clock
    ) -> decisions.Decision:
        return decide(self, request, view=view, pool=pool, clock=clock)


def decide(
    signer: Profiled, request: PodCertRequest, *, view: ClusterView, pool: CAPool, clock: Clock
) -> decisions.Decision:
    accepted = check(
        request, keys=signer.keys, signer_name=signer.signer_name, annotations=signer.ANNOTATIONS
    )
    if isinstance(accepted, Denied):
        return accepted
    leaf = signer.leaf(request, view)
    if not isinstance(leaf, Leaf):
        return leaf
    leaf = with_issuer(leaf, signer.issuer_info)
    return sign(request, accepted, leaf=leaf, pool=pool, clock=clock, lifetime=signer.lifetime)


def with_issuer(leaf: Leaf, issuer_info: x509.AuthorityInformationAccess | None) -> Leaf:
    """`leaf` with the non-critical caIssuers extension appended (unchanged without one)."""
    if issuer_info is None:
        return leaf
    extra = (*leaf.profile.extra_extensions, (issuer_info, False))
    return Leaf(replace(leaf.profile, extra_extensions=extra), leaf.summary)


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
    leaf: Leaf,
    pool: CAPool,
    clock: Clock,
    lifetime: issue.LifetimePolicy,
) -> Issued | NotYet:
    """Sign `leaf` for the accepted key with the pool's signing CA."""
    ca = pool.signing_ca
    issued = issue.issue_leaf(
        public_key=accepted.public_key,
        profile=leaf.profile,
        max_expiration_seconds=request.max_expiration_seconds,
        ca=ca,
        clock=clock,
        policy=lifetime,
    )
    if isinstance(issued, issue.CannotIssue):
        return NotYet(issued.reason, issued.message, issued.retry_after)
    return Issued(
        chain_pem=issued.chain_pem,
        not_before=issued.not_before,
        not_after=issued.not_after,
        begin_refresh_at=issued.begin_refresh_at,
        message=f"issued by CA {ca.id!r} for {leaf.summary}",
        leaf=issued.certificate,
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
