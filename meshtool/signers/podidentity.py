"""The pod-identity signer: client certificates that say exactly which pod holds the key.

Each leaf carries the Kubernetes PodIdentity extension (OID 1.3.6.1.4.1.57683.1, the structure
of k8s.io/component-helpers/kubernetesx509) with the pod's namespace, service account name and
UID, pod name and UID, and node name and UID, plus one URI SAN with the service account's SPIFFE
ID (so SPIFFE-aware peers can authorize it too). EKU is clientAuth only: this certificate proves
who a caller is; it does not make the pod a server.

All identity fields come from the request. The API server's NodeRestriction plugin checks them
for kubelet-created requests, and the controller re-checks the UIDs against its caches before
calling the signer, so the signer does not repeat the lookups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshtool.api import decisions, types
from meshtool.pki import issue, podidentity
from meshtool.signers import names, policy, spiffe
from meshtool.signers.base import ClusterView

if TYPE_CHECKING:
    pass


@dataclass(frozen=True, slots=True)
class PodIdentitySigner(policy.Decides):
    trust_domain: str = spiffe.DEFAULT_TRUST_DOMAIN
    signer_name: str = names.POD_IDENTITY
    keys: policy.KeyPolicy = field(default_factory=policy.KeyPolicy)
    lifetime: issue.LifetimePolicy = field(default_factory=issue.LifetimePolicy)
    issuer_info: x509.AuthorityInformationAccess | None = None
    """The caIssuers extension every leaf carries (`policy.with_issuer`), built once."""

    ANNOTATIONS: ClassVar[policy.Annotations] = policy.NO_ANNOTATIONS
    """Documented unverifiedUserAnnotations keys: none yet."""

    def __post_init__(self) -> None:
        spiffe.check_trust_domain(self.trust_domain)

    def leaf(
        self, request: types.PodCertRequest, view: ClusterView
    ) -> policy.Leaf | decisions.Denied:
        workload = spiffe.workload_id(self.trust_domain, request)
        if isinstance(workload, decisions.Denied):
            return workload
        profile = issue.LeafProfile(
            uris=(str(workload),),
            extended_key_usages=(ExtendedKeyUsageOID.CLIENT_AUTH,),
            extra_extensions=((podidentity.extension(pod_identity(request)), False),),
        )
        return policy.Leaf(profile, f"pod {request.namespace}/{request.pod_name} ({workload})")


def pod_identity(request: types.PodCertRequest) -> podidentity.PodIdentity:
    return podidentity.PodIdentity(
        namespace=request.namespace,
        service_account_name=request.service_account_name,
        service_account_uid=request.service_account_uid,
        pod_name=request.pod_name,
        pod_uid=request.pod_uid,
        node_name=request.node_name,
        node_uid=request.node_uid,
    )
