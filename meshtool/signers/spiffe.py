"""The spiffe signer: X509-SVIDs naming the pod's service account.

Each leaf is an X509-SVID (SPIFFE X509-SVID.md): exactly one URI SAN,
`spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`, critical because the Subject is
empty; KeyUsage digitalSignature (critical); cA=false; EKU serverAuth *and* clientAuth, which the
spec requires together. The identity is the service account the request names; the API server
(NodeRestriction) and the controller have checked it against the live pod.

The trust domain is validated when the signer is built, so a typo fails at startup with a
clear ValueError rather than at the first request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshtool.api import decisions, types
from meshtool.pki import issue
from meshtool.signers import names, policy, spiffeid
from meshtool.signers.base import ClusterView

if TYPE_CHECKING:
    pass

DEFAULT_TRUST_DOMAIN = "cluster.local"
SVID_USAGES = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)


@dataclass(frozen=True, slots=True)
class SpiffeSigner(policy.Decides):
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    signer_name: str = names.SPIFFE
    keys: policy.KeyPolicy = field(default_factory=policy.KeyPolicy)
    lifetime: issue.LifetimePolicy = field(default_factory=issue.LifetimePolicy)
    issuer_info: x509.AuthorityInformationAccess | None = None
    """The caIssuers extension every leaf carries (`policy.with_issuer`), built once."""

    ANNOTATIONS: ClassVar[policy.Annotations] = policy.NO_ANNOTATIONS
    """Documented unverifiedUserAnnotations keys: none yet."""

    def __post_init__(self) -> None:
        check_trust_domain(self.trust_domain)

    def leaf(
        self, request: types.PodCertRequest, view: ClusterView
    ) -> policy.Leaf | decisions.Denied:
        workload = workload_id(self.trust_domain, request)
        if isinstance(workload, decisions.Denied):
            return workload
        profile = issue.LeafProfile(uris=(str(workload),), extended_key_usages=SVID_USAGES)
        return policy.Leaf(profile, str(workload))


def check_trust_domain(trust_domain: str) -> None:
    """Raise ValueError with a readable message unless `trust_domain` is a SPIFFE trust domain."""
    try:
        spiffeid.validate_trust_domain(trust_domain)
    except spiffeid.InvalidSpiffeId as exc:
        raise ValueError(f"invalid SPIFFE trust domain {trust_domain!r}: {exc}") from None


def workload_id(
    trust_domain: str, request: types.PodCertRequest
) -> spiffeid.SpiffeId | decisions.Denied:
    """The request's service-account SPIFFE ID, or a denial if the names cannot form one."""
    try:
        return spiffeid.for_service_account(
            trust_domain, request.namespace, request.service_account_name
        )
    except spiffeid.InvalidSpiffeId as exc:
        return decisions.Denied(decisions.INVALID_REQUEST, f"no valid SPIFFE ID: {exc}")
