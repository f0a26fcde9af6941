"""The CA rotation controller: the thin I/O shell around `meshtool.pki.rotation`.

One `Rotator` per signer whose pool Secret is configured. Every `interval` the replica that owns
the shard key `ca-pool:<namespace>/<name>` reads the Secret through the API, asks the state
machine for the next step given the time and what it observes (which roots the published
bundles carry; which CA ids each live replica announces on its Lease), and applies it with
`poolstore.update`: one Secret replace carrying the resourceVersion it read. On a conflict the
fresh pool is decided again, and the step is applied only if it is still the step, so a step
happens once even when ownership moves mid-way (a killed replica leaves either the old pool or
the new one; the next owner carries on from there).

Every replica, owner or not, exports what its loaded pool says: each CA's role, the seconds to
the next rotation step and the active warnings (`meshtool.pki.expiry`); the owner also posts a
Warning Event on its own Pod for each warning, at most once per `warn_every`. Writes count in
`ca_rotation_steps_total`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from meshtool.clock import Clock
from meshtool.controllers import poolstore
from meshtool.controllers.metrics import Metrics
from meshtool.kube import errors
from meshtool.pki import capool, expiry, lifecycle, rotation
from meshtool.pki.ca import Role

log = logging.getLogger("meshtool.controllers.rotation")

Warn = Callable[[str, str], Awaitable[None]]
"""(reason, message) -> post a Warning Event."""


@dataclass(frozen=True, slots=True)
class Timing:
    interval: float = 30.0
    warn_every: float = 3600.0


class Rotator:
    def __init__(
        self,
        *,
        signer_name: str,
        store: poolstore.SecretStore,
        loaded: Callable[[], capool.CAPool | None],
        observe: Callable[[capool.CAPool], rotation.Observations],
        owns: Callable[[str], bool],
        policy: rotation.Policy,
        clock: Clock,
        metrics: Metrics,
        warn: Warn,
        enabled: bool = True,
        timing: Timing = Timing(),
    ) -> None:
        self.signer_name, self._store, self._loaded = signer_name, store, loaded
        self._observe, self._owns, self._policy = observe, owns, policy
        self._clock, self._metrics, self._warn = clock, metrics, warn
        self._enabled, self._timing = enabled, timing
        self.shard_key = f"ca-pool:{store.namespace}/{store.name}"
        self._warned: dict[str, float] = {}
        self._exported: set[tuple[str, str]] = set()

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except (errors.KubeError, capool.CAPoolError, RuntimeError) as exc:
                log.warning("%s CA rotation check failed: %s", self.signer_name, exc)
            await self._clock.sleep(self._timing.interval)

    async def tick(self) -> rotation.Step | None:
        """One check; the step taken (a Wait when none), None when not ours to act on."""
        pool = self._loaded()
        if pool is not None:
            self.export(pool)
        if not self._enabled or not self._owns(self.shard_key):
            return None
        current = (await self._store.read()).pool
        now = self._clock.now()
        await self._post_warnings(current, now)
        step = rotation.next_step(current, now, self._observe(current), self._policy)
        if isinstance(step, rotation.Wait):
            return step
        new_ca = self._successor(current) if isinstance(step, rotation.Prepare) else None

        def transition(fresh: capool.CAPool) -> capool.CAPool:
            again = rotation.next_step(fresh, now, self._observe(fresh), self._policy)
            return rotation.apply(fresh, step, now, new_ca) if again == step else fresh

        result = await poolstore.update(self._store, transition)
        self._metrics.ca_rotation_steps.labels(self.signer_name, type(step).__name__).inc()
        log.info(
            "%s CA rotation: %s; CAs now %s",
            self.signer_name,
            step,
            ", ".join(f"{ca.id} {result.pool.role(ca)}" for ca in result.pool.cas),
        )
        return step

    def _successor(self, pool: capool.CAPool) -> capool.CA:
        return lifecycle.make_successor(pool, clock=self._clock)

    async def _post_warnings(self, pool: capool.CAPool, now: dt.datetime) -> None:
        published = self._observe(pool).published
        for reason, message in expiry.warnings(pool, now, published=published, policy=self._policy):
            last = self._warned.get(reason)
            if last is None or self._clock.monotonic() - last >= self._timing.warn_every:
                self._warned[reason] = self._clock.monotonic()
                log.warning("%s CA pool: %s", self.signer_name, message)
                await self._warn(reason, f"{self.signer_name}: {message}")

    def export(self, pool: capool.CAPool) -> None:
        """Gauges of the loaded pool: roles, time to the next step, warnings."""
        m, signer, now = self._metrics, self.signer_name, self._clock.now()
        seen: set[tuple[str, str]] = set()
        for ca in pool.cas:
            for role in Role:
                m.ca_role.labels(signer, ca.id, role.value).set(pool.role(ca) is role)
            seen.add((ca.id, ""))
        for ca_id, _ in self._exported - seen:
            for role in Role:
                m.ca_role.remove(signer, ca_id, role.value)
        self._exported = seen
        step = rotation.next_step(pool, now, self._observe(pool), self._policy)
        until = step.until if isinstance(step, rotation.Wait) else now
        m.ca_next_step.labels(signer).set((until - now).total_seconds() if until else -1)
        published = self._observe(pool).published
        warned = expiry.warnings(pool, now, published=published, policy=self._policy)
        active = {reason for reason, _ in warned}
        for reason in (expiry.EXPIRED, expiry.EXPIRING, expiry.STUCK):
            m.ca_warning.labels(signer, reason).set(reason in active)
