"""Who is alive: this replica's Lease heartbeat and the live-replica view that sharding uses.

`Membership` renews our Lease every `heartbeat` seconds and reads everyone's Leases from a
cache the app fills from a Lease informer (we take it as a callable, so sharding stays
independent of the informer machinery). `live_replicas()` is the sorted holders of unexpired
Leases, always including ourselves: if our own renewals fail, the others will see us expire
and take over our keys, and the apiserver's resourceVersion checks keep a request from being
answered twice in the overlap.

`owns(key)` is rendezvous hashing over the live set, and is False for every key while we do not
hold our own Lease: until our first renewal, whenever our last successful renewal is older than
the lease duration (less a margin), and until our Lease cache shows that renewal (a watch is in
order, so the cache then also holds every renewal of the others before ours). A replica that
was frozen (SIGSTOP, a long pause) or cut off from the apiserver past its Lease has been counted
dead by the others, who took over its share; it must not act on that share from its stale view
until it has renewed. When it holds
the Lease again the live set changes and its keys are re-enqueued.

`watch()` recomputes the set every tick (expiry happens without any Lease event) and calls
`on_change` when it differs, so the controller can re-enqueue the keys that moved. Leases dead
for over `forget_after` (their pod is gone but its Lease lingered, e.g. without garbage
collection) are deleted.

Each renewal also writes `annotations()` on our Lease: what this replica wants the others to
observe about it (the CA pools it has loaded, for rotation). `announced(key)` reads one such
annotation from every live replica's cached Lease.

Without an identity (no sharding flags) there is a single replica that owns everything.
Loops wait on the injected clock, so tests drive them with a `FakeClock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from meshtool.clock import Clock
from meshtool.kube import errors, resources
from meshtool.kube.resources import Resource
from meshtool.sharding import leases, rendezvous

log = logging.getLogger("meshtool.sharding")


@dataclass(frozen=True, slots=True)
class Timing:
    heartbeat: float = 10.0
    duration_seconds: int = 15
    tick: float = 1.0
    hold_margin: float = 2.0
    """We stop acting this long before our Lease would expire in the others' eyes."""
    forget_after: dt.timedelta = dt.timedelta(hours=1)


class LeaseClient(Protocol):
    """The `KubeClient` methods a replica needs for its own Lease."""

    async def create(
        self, resource: Resource, body: dict[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def get(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def replace(
        self, resource: Resource, name: str, body: dict[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def delete(
        self, resource: Resource, name: str, *, namespace: str | None = None, uid: str | None = None
    ) -> None: ...


class Membership:
    def __init__(
        self,
        *,
        identity: leases.Identity | None,
        client: LeaseClient,
        cached_leases: Callable[[], Iterable[leases.ReplicaLease]],
        clock: Clock,
        timing: Timing = Timing(),
        annotations: Callable[[], Mapping[str, str]] = dict,
    ) -> None:
        self._identity, self._client, self._cached = identity, client, cached_leases
        self._clock, self._timing = clock, timing
        self._annotations = annotations
        self._live: tuple[str, ...] = (self.me,)
        self._held_until: float | None = None
        self._renewed_version = ""

    @property
    def me(self) -> str:
        return self._identity.pod_name if self._identity else "single-replica"

    @property
    def current(self) -> tuple[str, ...]:
        """The live set that `owns` is using now (as of the last `refresh`)."""
        return self._live

    def live_replicas(self) -> tuple[str, ...]:
        if self._identity is None:
            return (self.me,)
        now = self._clock.now()
        holders = {lease.holder for lease in self._cached() if lease.holder and lease.live(now)}
        return tuple(sorted(holders | {self.me}))

    def announced(self, key: str) -> dict[str, str | None]:
        """Live replica -> its Lease's annotation `key` (None when absent); ours from the
        source, not the cache, so a single replica sees its own state at once."""
        found: dict[str, str | None] = {r: None for r in self._live}
        now = self._clock.now()
        for lease in self._cached():
            if lease.holder in found and lease.live(now):
                found[lease.holder] = lease.annotations.get(key)
        found[self.me] = self._annotations().get(key)
        return found

    def owns(self, key: str) -> bool:
        if self._identity is None:
            return True
        return self.holds_lease() and rendezvous.owner(key, self._live) == self.me

    def holds_lease(self) -> bool:
        """Whether our last renewal is recent enough that the others count us live, and our
        Lease cache has caught up with it (so it also holds the others' renewals before it)."""
        if self._identity is None:
            return True
        if self._held_until is None or self._clock.monotonic() >= self._held_until:
            return False
        name = self._identity.lease_name
        mine = next((x for x in self._cached() if x.name == name), None)
        return mine is not None and mine.resource_version == self._renewed_version

    def refresh(self) -> bool:
        """Recompute the live set (empty while we do not hold our Lease); True when it changed."""
        live = self.live_replicas() if self.holds_lease() else ()
        changed = live != self._live
        self._live = live
        return changed

    async def watch(self, on_change: Callable[[tuple[str, ...]], None]) -> None:
        while True:
            if self.refresh():
                log.info("live replicas: %s", ", ".join(self._live))
                on_change(self._live)
            await self._clock.sleep(self._timing.tick)

    async def heartbeat(self) -> None:
        if self._identity is None:
            return
        while True:
            try:
                await self._renew()
                await self._forget_dead()
            except errors.KubeError as exc:
                log.warning("lease heartbeat failed: %s", exc)
            await self._clock.sleep(self._timing.heartbeat)

    async def _renew(self) -> None:
        started = self._clock.monotonic()
        written = await self._write_lease()
        self._renewed_version = str(written["metadata"].get("resourceVersion", ""))
        self._held_until = started + self._timing.duration_seconds - self._timing.hold_margin

    async def _write_lease(self) -> dict[str, Any]:
        assert self._identity is not None
        body = leases.lease_body(
            self._identity,
            now=self._clock.now(),
            duration_seconds=self._timing.duration_seconds,
            annotations=self._annotations(),
        )
        mine = next((x for x in self._cached() if x.name == self._identity.lease_name), None)
        if mine is None:
            with contextlib.suppress(errors.Conflict):
                return await self._client.create(
                    resources.LEASES, body, namespace=self._identity.namespace
                )
            # It exists but our cache has not seen it yet: fall through and update.
            current = await self._client.get(
                resources.LEASES, self._identity.lease_name, namespace=self._identity.namespace
            )
            mine = leases.lease_view(current)
        body["metadata"]["resourceVersion"] = mine.resource_version
        return await self._client.replace(
            resources.LEASES, self._identity.lease_name, body, namespace=self._identity.namespace
        )

    async def release(self) -> None:
        """Delete our Lease on a graceful shutdown, so the others take over our share at once
        instead of after it expires. Best effort: an expired Lease has the same effect later."""
        if self._identity is None:
            return
        with contextlib.suppress(errors.KubeError, TimeoutError):
            async with asyncio.timeout(3):
                await self._client.delete(
                    resources.LEASES, self._identity.lease_name, namespace=self._identity.namespace
                )
                log.info("released lease %s", self._identity.lease_name)

    async def _forget_dead(self) -> None:
        assert self._identity is not None
        cutoff = self._clock.now() - self._timing.forget_after
        for lease in self._cached():
            expires = lease.expires()
            if lease.holder != self.me and (expires is None or expires < cutoff):
                with contextlib.suppress(errors.NotFound, errors.Conflict):
                    await self._client.delete(
                        resources.LEASES,
                        lease.name,
                        namespace=self._identity.namespace,
                        uid=lease.uid,
                    )
                log.info("deleted lease %s, dead since %s", lease.name, expires)
