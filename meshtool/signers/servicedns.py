"""The service-dns signer: serving certificates for the Services that select a pod.

A pod gets one DNS SAN `<service>.<namespace>.svc` for every Service in its namespace that
selects it: the Service uses a selector (type ClusterIP, NodePort or LoadBalancer; an empty
type means ClusterIP), its selector is non-empty, and every selector pair is among the pod's
labels. ExternalName and selector-less Services never count: they select no pods, so they vouch
for none. The names are sorted and unique; the Subject is empty; the EKU is serverAuth only.

The controller has already matched the pod's UID to the request's. A pod that no Service selects
yet is `NotYet` (`NoMatchingService`): Services are often created after their pods, so the
request asks to be woken when the namespace's Services or the pod change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from cryptography.x509.oid import ExtendedKeyUsageOID

from meshtool.api import decisions, types
from meshtool.api.decisions import NotYet
from meshtool.pki import issue
from meshtool.signers import names, policy
from meshtool.signers.base import ClusterView

if TYPE_CHECKING:
    pass

SELECTING_TYPES = frozenset({"", "ClusterIP", "NodePort", "LoadBalancer"})
_RETRY_AFTER = 30.0
_HELD_RECHECK = 300.0
"""A request waiting for a Service is woken by Service and pod changes; this is the safety net."""


@dataclass(frozen=True, slots=True)
class ServiceDnsSigner(policy.Decides):
    signer_name: str = names.SERVICE_DNS
    keys: policy.KeyPolicy = field(default_factory=policy.KeyPolicy)
    lifetime: issue.LifetimePolicy = field(default_factory=issue.LifetimePolicy)

    ANNOTATIONS: ClassVar[policy.Annotations] = policy.NO_ANNOTATIONS
    """Documented unverifiedUserAnnotations keys: none yet."""

    def leaf(self, request: types.PodCertRequest, view: ClusterView) -> policy.Leaf | NotYet:
        dns_names = _dns_names(request, view)
        if isinstance(dns_names, NotYet):
            return dns_names
        profile = issue.LeafProfile(
            dns_names=dns_names, extended_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH,)
        )
        return policy.Leaf(profile, ", ".join(dns_names))


def _dns_names(request: types.PodCertRequest, view: ClusterView) -> tuple[str, ...] | NotYet:
    """The names for the request's pod, or why there are none yet.

    The controller has checked the pod's UID against the request (`signers.identity`) before
    asking; a pod missing from the view can only mean a caller that skipped that check."""
    pod = view.pod(request.namespace, request.pod_name)
    if pod is None:
        message = f"pod {request.namespace}/{request.pod_name} is not in the cache yet"
        return NotYet(decisions.POD_NOT_FOUND, message, _RETRY_AFTER)
    found = service_dns_names(pod, view.services(request.namespace))
    if not found:
        return NotYet(
            decisions.NO_MATCHING_SERVICE,
            f"no Service in namespace {pod.namespace} selects pod {pod.name}",
            _HELD_RECHECK,
            wake_on=(decisions.services_in(pod.namespace), decisions.pod(pod.namespace, pod.name)),
        )
    return found


def service_dns_names(pod: types.PodView, services: Iterable[types.ServiceView]) -> tuple[str, ...]:
    """`<service>.<namespace>.svc` for each Service selecting `pod`, sorted and unique."""
    return tuple(
        sorted(
            {
                f"{svc.name}.{svc.namespace}.svc"
                for svc in services
                if svc.namespace == pod.namespace and selects(svc, pod.labels)
            }
        )
    )


def selects(service: types.ServiceView, labels: Mapping[str, str]) -> bool:
    selector = service.selector
    if service.type not in SELECTING_TYPES or not selector:
        return False
    return all(labels.get(key) == value for key, value in selector.items())
