"""The signer seam: a pure function from a request and a read-only cluster view to a decision.

A `Signer` knows one signer name and one certificate profile. Given a `PodCertRequest`, the
cluster objects it may consult (`ClusterView`, backed by informer caches in production and by a
dict in tests), the current CA pool and a clock, it returns a `Decision`
(`meshtool.api.decisions`). It performs no I/O and keeps no state between calls, so the same
inputs always give the same decision (up to serial numbers and the clock).

It raises only for "could not decide, retry me". It knows nothing about queues, Leases, or how
the decision reaches the API server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from meshtool.api import decisions, types

if TYPE_CHECKING:
    from meshtool.clock import Clock
    from meshtool.pki.capool import CAPool


class ClusterView(Protocol):
    """Read-only lookups of the objects signers consult."""

    def pod(self, namespace: str, name: str) -> types.PodView | None: ...

    def services(self, namespace: str) -> Iterable[types.ServiceView]: ...

    def service(self, namespace: str, name: str) -> types.ServiceView | None: ...

    def services_selecting(self, pod: types.PodView) -> Iterable[types.ServiceView]:
        """Exactly the Services that select `pod` (`meshtool.api.selectors.selects`), found
        without scanning its namespace."""
        ...

    def service_account(self, namespace: str, name: str) -> types.ServiceAccountView | None: ...

    def node(self, name: str) -> types.NodeView | None: ...


class Signer(Protocol):
    @property
    def signer_name(self) -> str: ...

    def decide(
        self,
        request: types.PodCertRequest,
        *,
        view: ClusterView,
        pool: CAPool,
        clock: Clock,
    ) -> decisions.Decision: ...
