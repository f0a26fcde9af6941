"""The PodCertificateRequest reconciler: filter, shard, check identity, decide, write status.

`reconcile(key)` is level-triggered: it rereads the request from the informer cache and walks
a checklist of guards, each returning early:

1. gone from the cache -> nothing to do (deletion also clears our per-key memory);
2. for a signer we don't run -> ignore;
3. already terminal (Issued, Denied, Failed) -> done;
4. another replica's shard -> look again in about one lease duration;
5. pod, service account or node UIDs disagree with our caches -> requeue briefly (our cache may
   lag the kubelet's view), and deny with `IdentityMismatch` once the disagreement outlives a
   grace period;
6. ask the signer; write Issued / Denied / Failed, or hold a `NotYet` (one Warning Event, then
   a retry, and an immediate re-check when the namespace's Services or the pod change).

Writes go through `StatusWriter`, the single place that turns a decision into a status update
with the object's resourceVersion; its outcome tells us whether to stop, re-read, or retry.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meshtool.api import decisions, types, v1
from meshtool.clock import Clock
from meshtool.controllers import cache, metrics, status
from meshtool.pki.capool import CAPool
from meshtool.runtime.controller import Result
from meshtool.signers.base import Signer

log = logging.getLogger("meshtool.controllers.podcert")


@dataclass(frozen=True, slots=True)
class Timing:
    not_mine_requeue: float = 15.0
    """About one lease duration: a key of another replica is looked at again after this."""
    mismatch_retry: float = 1.0
    mismatch_grace: float = 30.0
    """How long a UID disagreement may last before it is a denial rather than cache lag."""
    not_yet_retry: float = 30.0
    held_recheck: float = 300.0
    """Safety-net revisit of requests held for a Service; changes re-trigger them sooner."""


@dataclass
class _Memory:
    """What we remember per key between reconciles; cleared when the request goes away."""

    mismatch_since: dict[str, float] = field(default_factory=dict)
    warned: set[str] = field(default_factory=set)
    held: dict[str, set[str]] = field(default_factory=dict)
    """namespace -> keys held until a Service or pod there changes."""
    written: dict[str, str] = field(default_factory=dict)
    """key -> resourceVersion we already answered, so a stale cache entry is not answered twice."""


class PodCertReconciler:
    def __init__(
        self,
        *,
        lookup: Callable[[str], status.CachedPCR | None],
        signers: Mapping[str, Signer],
        pools: Callable[[str], CAPool | None],
        view: cache.ClusterCache,
        owns: Callable[[str], bool],
        writer: status.StatusWriter,
        clock: Clock,
        timing: Timing = Timing(),
        legacy_view: Callable[[str, str], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        self._lookup, self._signers, self._pools = lookup, signers, pools
        self._legacy_view = legacy_view
        self._view, self._owns, self._writer = view, owns, writer
        self._clock, self._timing = clock, timing
        self._memory = _Memory()

    async def reconcile(self, key: str) -> Result | None:
        cached = self._lookup(key)
        if cached is None:
            self.forget(key)
            return None
        return await self._reconcile(cached, conflicts_left=1)

    async def _reconcile(self, cached: status.CachedPCR, *, conflicts_left: int) -> Result | None:
        signer = self._signers.get(cached.signer_name)
        if signer is None or cached.terminal or self._memory.written.get(cached.key) == cached.rv:
            return None
        if not self._owns(cached.key):
            return Result(requeue_after=self._timing.not_mine_requeue)
        cached = await self._with_legacy_key(cached)
        decision = self._identity_or_decision(signer, cached)
        if isinstance(decision, Result):
            return decision
        if isinstance(decision, decisions.NotYet):
            return await self._hold(cached, decision)
        self._release(cached)
        outcome = await self._writer.write(cached, decision)
        if isinstance(outcome, status.Stale):
            if conflicts_left <= 0:
                raise RuntimeError(f"{cached.key}: changed again while we answered it; retrying")
            return await self._reconcile(outcome.fresh, conflicts_left=conflicts_left - 1)
        if outcome is status.Outcome.WRITTEN:
            self._memory.written[cached.key] = cached.rv
        return None

    async def _with_legacy_key(self, cached: status.CachedPCR) -> status.CachedPCR:
        """A pre-1.36 kubelet's request read through v1 has no key: v1 shows only the stub CSR.
        Its pkixPublicKey is visible through v1beta1, so we read this one object there (a live
        read, off the common path: only such legacy requests on a cluster serving both)."""
        request = cached.request
        if self._legacy_view is None or request is None or not v1.needs_legacy_view(request):
            return cached
        fresh = status.cached_pcr(await self._legacy_view(cached.namespace, cached.name))
        if fresh.rv != cached.rv or fresh.request is None:
            raise RuntimeError(f"{cached.key} changed while reading its legacy key; retrying")
        return dataclasses.replace(cached, request=fresh.request)

    def _identity_or_decision(
        self, signer: Signer, cached: status.CachedPCR
    ) -> Result | decisions.Decision:
        if cached.request is None:
            return decisions.Denied(decisions.INVALID_REQUEST, cached.error)
        mismatch = self._check_identity(cached.key, cached.request)
        return mismatch or self._decide(signer, cached.request)

    def _check_identity(
        self, key: str, request: types.PodCertRequest
    ) -> Result | decisions.Denied | None:
        problem = cache.identity_mismatch(request, self._view)
        if problem is None:
            self._memory.mismatch_since.pop(key, None)
            return None
        since = self._memory.mismatch_since.setdefault(key, self._clock.monotonic())
        if self._clock.monotonic() - since < self._timing.mismatch_grace:
            return Result(requeue_after=self._timing.mismatch_retry)
        grace = self._timing.mismatch_grace
        return decisions.Denied(decisions.IDENTITY_MISMATCH, f"{problem} (for over {grace:.0f}s)")

    def _decide(self, signer: Signer, request: types.PodCertRequest) -> decisions.Decision:
        pool = self._pools(request.signer_name)
        if pool is None:
            # No usable CA pool yet (not loaded, or corrupt at start-up): retry, never Failed.
            return decisions.NotYet(decisions.CA_UNAVAILABLE, "no usable CA pool is loaded")
        return signer.decide(request, view=self._view, pool=pool, clock=self._clock)

    async def _hold(self, cached: status.CachedPCR, decision: decisions.NotYet) -> Result:
        metrics.HELD.labels(signer=cached.signer_name, reason=decision.reason).inc()
        if cached.key not in self._memory.warned:
            self._memory.warned.add(cached.key)
            await self._writer.warn(cached, decision.reason, decision.message)
        if decision.reason == decisions.NO_MATCHING_SERVICE:
            self._memory.held.setdefault(cached.namespace, set()).add(cached.key)
            return Result(requeue_after=self._timing.held_recheck)
        return Result(requeue_after=decision.retry_after or self._timing.not_yet_retry)

    def _release(self, cached: status.CachedPCR) -> None:
        held = self._memory.held.get(cached.namespace)
        if held is not None:
            held.discard(cached.key)

    def held_in(self, namespace: str) -> list[str]:
        """Keys waiting for a Service in `namespace`: requeue them when Services or pods change."""
        return sorted(self._memory.held.get(namespace, ()))

    def forget(self, key: str) -> None:
        self._memory.mismatch_since.pop(key, None)
        self._memory.warned.discard(key)
        self._memory.written.pop(key, None)
        namespace = key.partition("/")[0]
        held = self._memory.held.get(namespace)
        if held is not None:
            held.discard(key)
            if not held:
                del self._memory.held[namespace]
