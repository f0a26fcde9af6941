"""The cluster view signers read, backed by informer caches.

The informers keep only what the signers use (the `meshtool.api.types` views, made by the
transforms of `meshtool.api.objects`): pods, Services, ServiceAccounts and Nodes.
`ClusterCache` implements `meshtool.signers.base.ClusterView` over them, so a signer's decision
needs no API request. Services are indexed by namespace, so the per-request work is
proportional to one namespace, not the cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

from meshtool.api import types

T_co = TypeVar("T_co", covariant=True)

NAMESPACE_INDEX = "namespace"


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
