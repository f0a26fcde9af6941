"""The cluster view signers read, backed by informer caches.

The informers keep only what the signers use (the `meshtool.api.types` views, made by the
transforms of `meshtool.api.objects`): pods, Services, ServiceAccounts and Nodes.
`ClusterCache` implements `meshtool.signers.base.ClusterView` over them, so a signer's decision
needs no API request. Services are indexed by namespace (for `services`) and by selector
anchor (`meshtool.api.selectors`, for `services_selecting`): the Services selecting a pod are
found with one index probe per pod label, so the per-request work does not grow with the number
of Services in the namespace. Both indexes are kept by the informer, change by change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

from meshtool.api import selectors, types

T_co = TypeVar("T_co", covariant=True)

NAMESPACE_INDEX = "namespace"
ANCHOR_INDEX = "selector-anchor"


class Store(Protocol[T_co]):
    """The read side of an informer cache (`meshtool.runtime.informer.Informer` provides it)."""

    @property
    def has_synced(self) -> bool: ...

    def get(self, key: str) -> T_co | None: ...

    def by_index(self, name: str, value: str) -> Sequence[T_co]: ...


def by_namespace(view: types.PodView | types.ServiceView) -> list[str]:
    return [view.namespace]


def by_anchor(view: types.ServiceView) -> list[str]:
    return selectors.service_anchors(view)


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

    def service(self, namespace: str, name: str) -> types.ServiceView | None:
        return self.services_informer.get(f"{namespace}/{name}")

    def services_selecting(self, pod: types.PodView) -> list[types.ServiceView]:
        index = self.services_informer.by_index
        return [
            service
            for anchor in selectors.pod_anchors(pod)
            for service in index(ANCHOR_INDEX, anchor)
            if selectors.selects(service, pod)
        ]

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
