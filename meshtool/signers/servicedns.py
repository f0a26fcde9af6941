"""The service-dns signer: serving certificates for the Services that select a pod.

A pod's names come from the cluster, never from the pod alone. Each Service in its namespace
that selects it (`meshtool.api.selectors`: a selector type, a non-empty selector, every pair
among the pod's labels) gives the base `<service>.<namespace>`; a pod whose `spec.subdomain`
names a headless Service (`clusterIP: None`) that selects it also gets
`<hostname>.<subdomain>.<namespace>`, its StatefulSet-style per-pod name (the hostname is
`spec.hostname`, or the pod's name without it, as cluster DNS has it). Each base becomes one
DNS SAN per name form (`meshtool.signers.dnsforms`: `.svc`, and the cluster-domain and
cross-cluster forms the controller enables). Names are sorted and unique; the Subject is
empty; the EKU is serverAuth only.

A pod may narrow this with the documented `unverifiedUserAnnotations` keys (`ANNOTATIONS`):
`service-dns.<domain>/services` names the Services to cover (each must exist and select the
pod), `service-dns.<domain>/name-forms` the forms (each must be allowed). Unknown keys are
Denied by `policy.check`.

Decisions: no selecting Service yet is `NotYet` `NoMatchingService` (Services are often
created after their pods); a chosen Service, or the headless Service a pod's subdomain names,
that does not exist yet is `NotYet` `ServiceNotFound`; both ask to be woken by exactly the
changes that could help (the Services anchored at the pod's label pairs, the named Services,
the pod). A chosen Service that exists and does not select the pod is Denied
`ServiceDoesNotSelectPod`; a malformed choice is Denied `InvalidUnverifiedUserAnnotations`.
The work per request does not grow with the number of Services in the namespace: it goes
through `ClusterView.services_selecting` and `service`, never a scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshtool.api import decisions, selectors, types
from meshtool.api.decisions import Denied, NotYet
from meshtool.pki import issue
from meshtool.signers import dnsforms, names, policy
from meshtool.signers.base import ClusterView

SELECTING_TYPES = selectors.SELECTING_TYPES
_RETRY_AFTER = 30.0
_HELD_RECHECK = 300.0
"""A request waiting for a Service is woken by Service and pod changes; this is the safety net."""
_SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
Services = tuple[types.ServiceView, ...]


@dataclass(frozen=True, slots=True)
class ServiceDnsSigner(policy.Decides):
    signer_name: str = names.SERVICE_DNS
    keys: policy.KeyPolicy = field(default_factory=policy.KeyPolicy)
    lifetime: issue.LifetimePolicy = field(default_factory=issue.LifetimePolicy)
    issuer_info: x509.AuthorityInformationAccess | None = None
    """The caIssuers extension every leaf carries (`policy.with_issuer`), built once."""
    forms: dnsforms.NameForms = field(default_factory=dnsforms.NameForms)

    @property
    def services_key(self) -> str:
        return f"service-dns.{self.signer_name.split('/')[0]}/services"

    @property
    def forms_key(self) -> str:
        return f"service-dns.{self.signer_name.split('/')[0]}/name-forms"

    @property
    def ANNOTATIONS(self) -> policy.Annotations:
        """Documented unverifiedUserAnnotations keys."""
        return {
            self.services_key: "comma-separated Services (each selecting the pod) to cover",
            self.forms_key: "comma-separated name forms, among those the controller allows",
        }

    def leaf(
        self, request: types.PodCertRequest, view: ClusterView
    ) -> policy.Leaf | Denied | NotYet:
        pod = view.pod(request.namespace, request.pod_name)
        if pod is None:
            message = f"pod {request.namespace}/{request.pod_name} is not in the cache yet"
            return NotYet(decisions.POD_NOT_FOUND, message, _RETRY_AFTER)
        suffixes = self.forms.choose(request.user_annotations.get(self.forms_key))
        if isinstance(suffixes, Denied):
            return suffixes
        bases = self._bases(pod, view, request.user_annotations)
        if not isinstance(bases, tuple):
            return bases
        dns_names = dnsforms.names(bases, suffixes)
        profile = issue.LeafProfile(
            dns_names=dns_names, extended_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH,)
        )
        return policy.Leaf(profile, ", ".join(dns_names))

    def _bases(
        self, pod: types.PodView, view: ClusterView, annotations: Mapping[str, str]
    ) -> tuple[str, ...] | Denied | NotYet:
        chosen = annotations.get(self.services_key)
        found: Services | Denied | NotYet = (
            selecting(pod, view)
            if chosen is None
            else chosen_services(pod, view, chosen, key=self.services_key)
        )
        if not isinstance(found, tuple):
            return found
        return bases(pod, found, view, wait_for_subdomain=chosen is None)


def selecting(pod: types.PodView, view: ClusterView) -> Services | NotYet:
    """Every Service selecting `pod`, or a wait for one to appear."""
    found = tuple(view.services_selecting(pod))
    if found:
        return found
    wake = [decisions.selector(anchor) for anchor in selectors.pod_anchors(pod)]
    return NotYet(
        decisions.NO_MATCHING_SERVICE,
        f"no Service in namespace {pod.namespace} selects pod {pod.name}",
        _HELD_RECHECK,
        wake_on=(*wake, decisions.pod(pod.namespace, pod.name)),
    )


def chosen_services(
    pod: types.PodView, view: ClusterView, chosen: str, *, key: str
) -> Services | Denied | NotYet:
    """The Services a pod named in `key`: each must exist (else wait) and select it (else deny)."""
    wanted = service_names(chosen, key=key)
    if isinstance(wanted, Denied):
        return wanted
    found = {name: view.service(pod.namespace, name) for name in wanted}
    wrong = [n for n, svc in found.items() if svc is not None and not selectors.selects(svc, pod)]
    if wrong:
        message = (
            f"Service {pod.namespace}/{wrong[0]} named in {key} does not select pod {pod.name}"
        )
        return Denied(decisions.SERVICE_DOES_NOT_SELECT_POD, message)
    missing = [name for name, svc in found.items() if svc is None]
    if missing:
        return _wait_for(pod, missing, f"named in {key}")
    return tuple(svc for svc in found.values() if svc is not None)


def service_names(chosen: str, *, key: str) -> tuple[str, ...] | Denied:
    wanted = tuple(dict.fromkeys(part.strip() for part in chosen.split(",") if part.strip()))
    bad = [name for name in wanted if not _SERVICE_NAME.match(name)]
    if not wanted or bad:
        problem = f"{bad[0]!r} is not a Service name" if bad else "it names no Service"
        return Denied(decisions.INVALID_USER_ANNOTATIONS, f"{key}: {problem}")
    return wanted


def bases(
    pod: types.PodView, services: Services, view: ClusterView, *, wait_for_subdomain: bool
) -> tuple[str, ...] | NotYet:
    """`<service>.<namespace>` for each Service, plus the pod's per-pod base when its subdomain
    names a headless one of them; waits for a subdomain Service that does not exist yet."""
    found = [f"{svc.name}.{svc.namespace}" for svc in services]
    if not pod.subdomain:
        return tuple(found)
    if wait_for_subdomain and view.service(pod.namespace, pod.subdomain) is None:
        return _wait_for(pod, [pod.subdomain], "as its subdomain")
    if any(svc.name == pod.subdomain and svc.headless for svc in services):
        found.append(f"{pod.hostname or pod.name}.{pod.subdomain}.{pod.namespace}")
    return tuple(found)


def _wait_for(pod: types.PodView, missing: Iterable[str], why: str) -> NotYet:
    waiting = list(missing)
    listed = ", ".join(f"{pod.namespace}/{name}" for name in waiting)
    wake = [decisions.service(pod.namespace, name) for name in waiting]
    return NotYet(
        decisions.SERVICE_NOT_FOUND,
        f"Service {listed}, which pod {pod.name} names {why}, does not exist yet",
        _HELD_RECHECK,
        wake_on=(*wake, decisions.pod(pod.namespace, pod.name)),
    )


def service_dns_names(pod: types.PodView, services: Iterable[types.ServiceView]) -> tuple[str, ...]:
    """`<service>.<namespace>.svc` for each Service selecting `pod`, sorted and unique."""
    selected = [f"{svc.name}.{svc.namespace}" for svc in services if selectors.selects(svc, pod)]
    return dnsforms.names(selected, ("",))


def selects(service: types.ServiceView, labels: Mapping[str, str]) -> bool:
    return selectors.matches(service, labels)
