"""What the controller reports about itself: readiness, the health server and its gauges.

`SelfReport` is the part of `meshtool.app.main.Controller` that answers "is this replica fit
to serve, and how is it doing" (a mixin: the controller owns the attributes it reads). The
rules:
- `/readyz` is red while kube-apiserver does not answer a probe (its own short timeout, so a
  black-holed apiserver shows in seconds), while the informer caches have not synced, while a
  signer's CA pool is unusable, while the bundle endpoint has a problem, or while federation
  reports one; each reason is a sentence naming what is wrong;
- the queue, replica, pending and oldest-pending gauges are computed when scraped, never
  stored, so they cannot go stale;
- with `--metrics-auth kubernetes`, /metrics asks the apiserver (TokenReview and
  SubjectAccessReview) who the scraper is.
"""

from __future__ import annotations

import asyncio

from meshtool.app import bundleservice, components, federated, metricsauth
from meshtool.app.health import HealthServer
from meshtool.app.settings import ControllerSettings
from meshtool.clock import Clock
from meshtool.controllers import cache, status
from meshtool.controllers.metrics import Metrics
from meshtool.kube.client import KubeClient
from meshtool.runtime import workqueue
from meshtool.sharding import membership

API_PROBE_INTERVAL = 5.0
API_PROBE_TIMEOUT = 5.0
"""How often, and how patiently, /readyz checks that kube-apiserver answers."""


class SelfReport:
    settings: ControllerSettings
    client: KubeClient
    clock: Clock
    api_ok: bool
    view: cache.ClusterCache
    informers: components.Informers
    setups: list[components.SignerSetup]
    bundle_service: bundleservice.BundleService | None
    federation: federated.Federation | None
    metrics: Metrics
    queue: workqueue.WorkQueue[str]
    membership: membership.Membership

    def _pending(self) -> list[status.Target]:
        raise NotImplementedError

    async def _probe_api(self) -> None:
        # Its own short timeout: a black-holed apiserver must turn /readyz red in seconds, not
        # after the 30 s request timeout of the pool.
        while True:
            self.api_ok = await self.client.healthy(timeout=API_PROBE_TIMEOUT)
            await self.clock.sleep(API_PROBE_INTERVAL)

    def readiness(self) -> list[str]:
        problems = [] if self.api_ok else ["kube-apiserver is not reachable"]
        if not self.view.synced or not self.informers.bundles.has_synced:
            problems.append("informer caches are not synced yet")
        for setup in self.setups:
            if not setup.watcher.healthy:
                problems.append(f"CA pool for {setup.signer.signer_name}: {setup.watcher.error}")
        endpoint = self.bundle_service.problem() if self.bundle_service is not None else None
        problems += [endpoint] if endpoint else []
        return problems + (self.federation.readiness() if self.federation else [])

    def _health(self) -> HealthServer | None:
        m = self.metrics
        m.queue_depth.set_function(lambda: len(self.queue))
        m.live_replicas.set_function(lambda: len(self.membership.current))
        m.pending.set_function(lambda: len(self._pending()))
        m.oldest_pending.set_function(self._oldest_pending_age)
        m.watch_readiness(self.readiness)
        m.count_tasks(asyncio.get_running_loop())
        address = self.settings.health_address
        if not address:
            return None
        auth = None
        if self.settings.metrics_auth == "kubernetes":
            auth = metricsauth.MetricsAuth(self.client, self.clock)
        reports = self.bundle_service.report if self.bundle_service is not None else list
        return HealthServer(address, self.readiness, m.registry, auth=auth, reports=reports)

    def _oldest_pending_age(self) -> float:
        created = [e.created_at for e in self._pending() if e.created_at is not None]
        return (self.clock.now() - min(created)).total_seconds() if created else 0.0
