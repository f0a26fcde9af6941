from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest

from meshtool.api import selectors
from meshtool.api.types import NodeView, PodView, ServiceAccountView, ServiceView
from meshtool.clock import FakeClock
from meshtool.pki import capool

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass
class FakeView:
    """An in-memory `ClusterView`."""

    pods: list[PodView] = field(default_factory=list)
    service_list: list[ServiceView] = field(default_factory=list)
    service_accounts: list[ServiceAccountView] = field(default_factory=list)
    nodes: list[NodeView] = field(default_factory=list)

    def pod(self, namespace: str, name: str) -> PodView | None:
        return next((p for p in self.pods if (p.namespace, p.name) == (namespace, name)), None)

    def services(self, namespace: str) -> Iterable[ServiceView]:
        return [s for s in self.service_list if s.namespace == namespace]

    def service(self, namespace: str, name: str) -> ServiceView | None:
        found = (s for s in self.service_list if (s.namespace, s.name) == (namespace, name))
        return next(found, None)

    def services_selecting(self, pod: PodView) -> Iterable[ServiceView]:
        """A scan: the reference the indexed `ClusterCache` lookup is tested against."""
        return [s for s in self.service_list if selectors.selects(s, pod)]

    def service_account(self, namespace: str, name: str) -> ServiceAccountView | None:
        found = (s for s in self.service_accounts if (s.namespace, s.name) == (namespace, name))
        return next(found, None)

    def node(self, name: str) -> NodeView | None:
        return next((n for n in self.nodes if n.name == name), None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(scope="session")
def pools() -> dict[str, capool.CAPool]:
    """One pool per CA key type, created at T0 (valid a year)."""
    clock = FakeClock(T0)
    return {
        key_type: capool.new_pool(
            ca_id=f"ca-{key_type}", name="test", key_type=key_type, clock=clock
        )
        for key_type in capool.KEY_TYPES
    }
