"""The cluster view signers read, backed by informer caches.

Each informer keeps only what the signers use (`meshtool.api.types` views): pods (labels,
service account, node, UID), Services (type and selector), ServiceAccounts and Nodes (UIDs).
`ClusterCache` implements `meshtool.signers.base.ClusterView` over them, so a signer's decision
needs no API request. Services are indexed by namespace, pods by namespace too, so the
per-request work is proportional to one namespace, not the cluster.

The transforms here are pure and tolerate odd objects: an object missing a field becomes a view
with an empty value rather than an exception, because one strange Service must never stop the
informer that all requests depend on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from meshtool.api import types

T_co = TypeVar("T_co", covariant=True)

NAMESPACE_INDEX = "namespace"

JSON = dict[str, Any]


def _meta(obj: JSON) -> JSON:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(obj: JSON) -> JSON:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def pod_view(obj: JSON) -> types.PodView:
    meta, spec = _meta(obj), _spec(obj)
    return types.PodView(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        labels=_str_map(meta.get("labels")),
        service_account_name=str(spec.get("serviceAccountName") or "default"),
        node_name=str(spec.get("nodeName") or ""),
    )


def service_view(obj: JSON) -> types.ServiceView:
    meta, spec = _meta(obj), _spec(obj)
    selector = spec.get("selector")
    return types.ServiceView(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        type=str(spec.get("type") or "ClusterIP"),
        selector=_str_map(selector) if isinstance(selector, dict) else None,
    )


def service_account_view(obj: JSON) -> types.ServiceAccountView:
    meta = _meta(obj)
    return types.ServiceAccountView(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
    )


def node_view(obj: JSON) -> types.NodeView:
    meta = _meta(obj)
    return types.NodeView(name=str(meta.get("name", "")), uid=str(meta.get("uid", "")))


class Store(Protocol[T_co]):
    """The read side of an informer cache (`meshtool.runtime.informer.Informer` provides it)."""

    @property
    def has_synced(self) -> bool: ...

    def get(self, key: str) -> T_co | None: ...

    def by_index(self, name: str, value: str) -> Sequence[T_co]: ...


def by_namespace(view: types.PodView | types.ServiceView) -> list[str]:
    return [view.namespace]


class ClusterCache:
    """`ClusterView` over four informers."""

    def __init__(
        self,
        *,
        pods: Store[types.PodView],
        services: Store[types.ServiceView],
        service_accounts: Store[types.ServiceAccountView],
        nodes: Store[types.NodeView],
    ) -> None:
        self.pods = pods
        self.services_informer = services
        self.service_accounts = service_accounts
        self.nodes = nodes

    def pod(self, namespace: str, name: str) -> types.PodView | None:
        return self.pods.get(f"{namespace}/{name}")

    def services(self, namespace: str) -> Iterable[types.ServiceView]:
        return self.services_informer.by_index(NAMESPACE_INDEX, namespace)

    def service_account(self, namespace: str, name: str) -> types.ServiceAccountView | None:
        return self.service_accounts.get(f"{namespace}/{name}")

    def node(self, name: str) -> types.NodeView | None:
        return self.nodes.get(name)

    @property
    def synced(self) -> bool:
        stores: Iterable[Store[Any]] = (
            self.pods,
            self.services_informer,
            self.service_accounts,
            self.nodes,
        )
        return all(store.has_synced for store in stores)


def identity_mismatch(request: types.PodCertRequest, view: ClusterCache) -> str | None:
    """Why the request's pod, service account or node disagrees with the caches, if it does."""
    pod = view.pod(request.namespace, request.pod_name)
    checks: Mapping[str, tuple[object, str]] = {
        f"pod {request.namespace}/{request.pod_name}": (pod and pod.uid, request.pod_uid),
        f"service account {request.namespace}/{request.service_account_name}": (
            _uid(view.service_account(request.namespace, request.service_account_name)),
            request.service_account_uid,
        ),
        f"node {request.node_name}": (_uid(view.node(request.node_name)), request.node_uid),
    }
    for what, (have, want) in checks.items():
        if have is None:
            return f"{what} does not exist"
        if have != want:
            return f"{what} has UID {have}, the request names UID {want}"
    if pod is not None and pod.service_account_name != request.service_account_name:
        return f"pod {request.namespace}/{request.pod_name} runs as {pod.service_account_name}"
    if pod is not None and pod.node_name != request.node_name:
        return f"pod {request.namespace}/{request.pod_name} is bound to node {pod.node_name!r}"
    return None


def _uid(view: types.ServiceAccountView | types.NodeView | None) -> str | None:
    return view.uid if view is not None else None
