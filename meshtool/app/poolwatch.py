"""CA pool files that reload themselves.

A pool file is a mounted Secret key: the kubelet swaps it in place (the `..data` symlink), with
no event we could watch, so we poll: every interval we read the file and, when its bytes
differ from the last read, parse it. A good new pool replaces the current one and fires the
change callback (the trust-bundle publisher republishes). A bad one keeps the previous pool,
is logged and counted once per distinct content, and marks the watcher unhealthy, which turns
`/readyz` red until a good pool appears. A missing or unreadable file counts as bad.

Invariant: `pool` only ever holds a pool that loaded cleanly; it is None only until the first
good read.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from meshtool.clock import Clock
from meshtool.controllers.metrics import Metrics
from meshtool.pki import capool

log = logging.getLogger("meshtool.app.poolwatch")


class PoolWatcher:
    def __init__(
        self,
        *,
        signer_name: str,
        path: Path,
        clock: Clock,
        metrics: Metrics,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.signer_name, self.path = signer_name, path
        self._clock, self._metrics, self._on_change = clock, metrics, on_change
        self.pool: capool.CAPool | None = None
        self.error: str | None = "not loaded yet"
        self._digest: str | None = None

    @property
    def healthy(self) -> bool:
        return self.pool is not None and self.error is None

    def check(self) -> bool:
        """Read the file once; True when a new good pool was installed."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            return self._bad(f"cannot read {self.path}: {exc.strerror or exc}", digest="unreadable")
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._digest:
            return False
        try:
            pool = capool.load(data, clock=self._clock)
        except capool.CAPoolError as exc:
            return self._bad(f"{self.path}: {exc}", digest=digest)
        self._install(pool, digest)
        return True

    def _install(self, pool: capool.CAPool, digest: str) -> None:
        first, previous = self.pool is None, self.pool
        self.pool, self.error, self._digest = pool, None, digest
        self._metrics.ca_pool_healthy.labels(signer=self.signer_name).set(1)
        gone = {ca.id for ca in previous.cas} - {ca.id for ca in pool.cas} if previous else set()
        for ca_id in gone:
            self._metrics.ca_not_after.remove(self.signer_name, ca_id)
        for ca in pool.cas:
            self._metrics.ca_not_after.labels(signer=self.signer_name, ca_id=ca.id).set(
                ca.not_after.timestamp()
            )
        ids = ", ".join(ca.id for ca in pool.cas)
        log.info("%s CA pool %s: CAs %s", self.signer_name, "loaded" if first else "reloaded", ids)
        self._on_change()

    def _bad(self, message: str, *, digest: str) -> bool:
        if digest != self._digest:
            self._digest = digest
            self._metrics.ca_pool_load_errors.labels(signer=self.signer_name).inc()
            keeping = "keeping the previous pool" if self.pool else "no pool loaded"
            log.error("%s CA pool rejected (%s): %s", self.signer_name, keeping, message)
        self.error = message
        self._metrics.ca_pool_healthy.labels(signer=self.signer_name).set(0)
        return False

    async def run(self, interval: float) -> None:
        while True:
            await self._clock.sleep(interval)
            self.check()
