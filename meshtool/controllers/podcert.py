"""The PodCertificateRequest reconciler: a checklist of guards, then one decision, then a write.

`reconcile(key)` is level-triggered: it rereads the request from the informer cache
(`api.types.PcrEntry`, made by `api.pcr.read`) and walks the checklist below, each step
returning early. It never retries by itself: a write conflict raises `Requeue` from the status
writer, and the work queue's backoff brings the key back to be reread from the cache.

One guard keeps the rotation invariant: a request is not signed while its signer's signing CA
is missing from the published trust bundles (`may_sign`); it is looked at again shortly.

Memory between reconciles is per key and cleared when the request goes away: when an identity
disagreement started (to deny it once it outlives the grace period), whether we posted the
Warning for a held request, and the resourceVersion we last answered (so the stale cache entry
of a request we just answered is not answered twice before our write comes back).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from meshtool.api import decisions, pcr, types
from meshtool.clock import Clock
from meshtool.controllers import cache, status
from meshtool.controllers.metrics import Metrics
from meshtool.pki.capool import CA, CAPool
from meshtool.runtime.controller import Result
from meshtool.runtime.wakeups import Wakeups
from meshtool.signers import identity
from meshtool.signers.base import Signer

log = logging.getLogger("meshtool.controllers.podcert")

LegacyReader = Callable[[types.PodCertRequest], Awaitable[types.PodCertRequest]]


@dataclass(frozen=True, slots=True)
class Timing:
    not_mine_requeue: float = 15.0
    """About one lease duration: a key of another replica is looked at again after this."""
    mismatch_retry: float = 1.0
    mismatch_grace: float = 30.0
    """How long a UID disagreement may last before it is a denial rather than cache lag."""
    not_yet_retry: float = 30.0
    """When a signer's NotYet names no retry interval."""
    unpublished_retry: float = 1.0
    """When the signing CA is not in the published bundles yet (the publisher is about to)."""


@dataclass
class _Memory:
    mismatch_since: dict[str, float] = field(default_factory=dict)
    warned: set[str] = field(default_factory=set)
    answered: dict[str, str] = field(default_factory=dict)


class PodCertReconciler:
    def __init__(
        self,
        *,
        lookup: Callable[[str], types.PcrEntry | None],
        signers: Mapping[str, Signer],
        pools: Callable[[str], CAPool | None],
        view: cache.ClusterCache,
        owns: Callable[[str], bool],
        writer: status.StatusWriter,
        clock: Clock,
        metrics: Metrics,
        timing: Timing = Timing(),
        legacy_reader: LegacyReader | None = None,
        may_sign: Callable[[str, CA], bool] | None = None,
    ) -> None:
        self._lookup, self._signers, self._pools = lookup, signers, pools
        self._view, self._owns, self._writer = view, owns, writer
        self._clock, self._metrics, self._timing = clock, metrics, timing
        self._legacy_reader, self._may_sign = legacy_reader, may_sign
        self._memory = _Memory()
        self.wakeups: Wakeups[str, decisions.WakeOn] = Wakeups()
        """Held requests by what should wake them; the app wires informer changes to it."""

    async def reconcile(self, key: str) -> Result | None:
        entry = self._lookup(key)
        if entry is None:  # deleted: nothing to answer, nothing to remember
            self.forget(key)
            return None
        signer = self._signers.get(entry.signer_name)
        if signer is None or isinstance(entry, types.Answered):
            return None
        if self._memory.answered.get(key) == entry.resource_version:
            return None  # we answered this version; our write has not reached the cache yet
        if not self._owns(key):  # another replica's: look again when ownership may have moved
            return Result(requeue_after=self._timing.not_mine_requeue)
        entry = await self._with_legacy_key(entry)
        decision = self._decide(signer, entry)
        if isinstance(decision, Result):
            return decision
        if isinstance(decision, decisions.NotYet):
            return await self._hold(entry, decision)
        self.wakeups.release(key)
        if await self._writer.write(entry, decision, still_ours=lambda: self._owns(key)):
            self._memory.answered[key] = entry.resource_version
        return None

    def _decide(self, signer: Signer, request: status.Target) -> Result | decisions.Decision:
        if isinstance(request, types.Unreadable):
            return decisions.Denied(decisions.INVALID_REQUEST, request.error)
        mismatch = self._check_identity(request)
        if mismatch is not None:
            return mismatch
        pool = self._pools(request.signer_name)
        if pool is None:
            # No usable CA pool yet (not loaded, or corrupt at start-up): retry, never Failed.
            return decisions.NotYet(decisions.CA_UNAVAILABLE, "no usable CA pool is loaded")
        if self._may_sign is not None and not self._may_sign(request.signer_name, pool.signing_ca):
            # Never sign with a CA verifiers cannot trust yet: wait for the publisher, quietly.
            log.debug("%s: CA %s is not published yet", request.key, pool.signing_ca.id)
            return Result(requeue_after=self._timing.unpublished_retry)
        return signer.decide(request, view=self._view, pool=pool, clock=self._clock)

    async def _with_legacy_key(self, request: status.Target) -> status.Target:
        """A pre-1.36 kubelet's request read through v1 has no key (v1 shows only the stub
        CSR); its pkixPublicKey is visible through v1beta1, so that one object is read there,
        and it is decided and answered in that view."""
        if not isinstance(request, types.PodCertRequest):
            return request
        if self._legacy_reader is None or not pcr.needs_legacy_view(request):
            return request
        fresh = await self._legacy_reader(request)
        if fresh.resource_version != request.resource_version:
            raise RuntimeError(f"{request.key} changed while reading its legacy key; retrying")
        return fresh

    def _check_identity(self, request: types.PodCertRequest) -> Result | decisions.Denied | None:
        problem = identity.mismatch(request, self._view)
        if problem is None:
            self._memory.mismatch_since.pop(request.key, None)
            return None
        now = self._clock.monotonic()
        since = self._memory.mismatch_since.setdefault(request.key, now)
        grace = self._timing.mismatch_grace
        if now - since < grace:  # may be cache lag: look again shortly
            return Result(requeue_after=self._timing.mismatch_retry)
        return decisions.Denied(decisions.IDENTITY_MISMATCH, f"{problem} (for over {grace:.0f}s)")

    async def _hold(self, request: status.Target, decision: decisions.NotYet) -> Result:
        # Register the wake-ups before anything awaits: a change arriving while the warning is
        # posted must find this request waiting, or it waits for its retry instead.
        self.wakeups.wait(request.key, decision.wake_on)
        self._metrics.held.labels(signer=request.signer_name, reason=decision.reason).inc()
        if request.key not in self._memory.warned:
            self._memory.warned.add(request.key)
            await self._writer.warn(request, decision.reason, decision.message)
        return Result(requeue_after=decision.retry_after or self._timing.not_yet_retry)

    def forget(self, key: str) -> None:
        self._memory.mismatch_since.pop(key, None)
        self._memory.warned.discard(key)
        self._memory.answered.pop(key, None)
        self.wakeups.release(key)
