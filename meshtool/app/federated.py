"""Wiring of the federation controller (`--federation`): its informer, queue, workers and sweep.

Built only when the flag is on, so a cluster without the FederatedTrustDomain CRD runs the
signers as before. The parts: an informer on FederatedTrustDomains (`api.federation.read`), a
work queue of their names drained by `controllers.federation.FederationReconciler` workers, and
the de-federation `Sweeper`, a whole-state pass on a coalescing trigger. An object change
enqueues its name and fires the sweep; a CTB change fires the sweep; a membership change
re-enqueues every object (ownership may have moved) and fires the sweep. The workers start
once both the FederatedTrustDomain and the CTB caches are synced; until then `/readyz` names
the missing cache (most likely the CRD is not installed).
"""

from __future__ import annotations

import asyncio
from typing import Any

from meshtool.api import federation as api
from meshtool.api import trustbundle
from meshtool.app.settings import ControllerSettings
from meshtool.clock import Clock
from meshtool.controllers import bundlefetch, events, peerschedule
from meshtool.controllers import federation as controller
from meshtool.controllers.metrics import Metrics
from meshtool.kube.client import KubeClient
from meshtool.kube.resources import Resource, cluster_trust_bundles
from meshtool.runtime import controller as workers
from meshtool.runtime import trigger, workqueue
from meshtool.runtime.informer import Informer
from meshtool.sharding import membership
from meshtool.signers import names

RESOURCE = Resource(api.GROUP, api.VERSION, api.PLURAL, False)
WORKERS = 4
"""Concurrent fetches: each waits on a peer (at most the fetch timeout), so a few suffice."""


def context(settings: ControllerSettings, ctb_version: str) -> controller.Context:
    return controller.Context(
        signer_name=names.SignerNames(settings.signer_domain).spiffe,
        domain=settings.signer_domain,
        trust_domain=settings.spiffe_trust_domain,
        ctb=cluster_trust_bundles(ctb_version),
        federations=RESOURCE,
        timing=peerschedule.Timing(
            min_refresh=settings.federation_min_refresh,
            max_refresh=settings.federation_max_refresh,
        ),
        limits=bundlefetch.Limits(
            timeout=settings.federation_fetch_timeout, ca_file=settings.federation_ca_file
        ),
        not_mine_requeue=float(settings.lease_duration_seconds),
    )


class Federation:
    def __init__(
        self,
        settings: ControllerSettings,
        client: KubeClient,
        *,
        ctb_version: str,
        bundles: Informer[trustbundle.TrustBundle],
        members: membership.Membership,
        clock: Clock,
        metrics: Metrics,
        recorder: events.EventRecorder,
    ) -> None:
        ctx = context(settings, ctb_version)
        self.informer: Informer[api.Federation] = Informer(client, RESOURCE, transform=api.read)
        self.queue: workqueue.WorkQueue[str] = workqueue.WorkQueue()
        self.sweep_trigger = trigger.Trigger()
        self._bundles, self._metrics = bundles, metrics
        self.reconciler = controller.FederationReconciler(
            client=client,
            context=ctx,
            lookup=self.informer.get,
            everything=self.informer.values,
            bundle=bundles.get,
            owns=members.owns,
            clock=clock,
            metrics=metrics,
            recorder=recorder,
        )
        self.sweeper = controller.Sweeper(
            client=client,
            context=ctx,
            everything=self.informer.values,
            bundles=bundles.values,
            synced=lambda: self.informer.has_synced and bundles.has_synced,
            owns=members.owns,
        )
        self.informer.on_change(self._on_object)
        bundles.on_change(lambda key, old, new: self.sweep_trigger.fire())

    def _on_object(self, key: str, old: Any, new: Any) -> None:
        self.queue.add(key)
        self.sweep_trigger.fire()

    def on_membership(self) -> None:
        for fed in self.informer.values():
            self.queue.add(fed.name)
        self.sweep_trigger.fire()

    def readiness(self) -> list[str]:
        if self.informer.has_synced:
            return []
        crd = f"{RESOURCE.plural}.{api.GROUP}"
        return [f"{api.KIND} cache is not synced yet (is the CRD {crd} installed?)"]

    async def run(self, *, resync_period: float) -> None:
        """Run the informer, then (once synced) the workers and the sweep; until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.informer.run())
            await self.informer.wait_synced()
            await self._bundles.wait_synced()
            group.create_task(
                trigger.run_loop(
                    self.sweeper.sync,
                    trigger=self.sweep_trigger,
                    resync_period=resync_period,
                    name="federation-sweep",
                )
            )
            group.create_task(
                workers.run_workers(
                    self.queue,
                    self.reconciler,
                    workers=WORKERS,
                    name="federation",
                    observe=lambda outcome, _: self._metrics.reconciles.labels(
                        "federation", outcome
                    ).inc(),
                )
            )
