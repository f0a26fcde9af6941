"""The controller process: the only place that knows every component and starts them.

Start-up order: connect and discover which certificates.k8s.io versions serve PCRs and CTBs
(exit with the needed feature gate and --runtime-config if none); resolve the cluster issuer
(`--cluster-issuer`, discovered from kube-apiserver by default) and build the signers, which
name it in every leaf; load the CA pools (a bad pool is not fatal: `/readyz` stays red and the
watcher keeps trying); start informers and wait for their first lists; then start the
workers, the trust-bundle publisher, the Lease heartbeat and the membership watcher, all in
one TaskGroup. Cancellation (SIGTERM/SIGINT) stops everything cleanly.

Event wiring: a PCR change enqueues its key; a Service change wakes the requests held on the
Services of its namespace, on that Service, or on its selector anchor before or after the
change (`meshtool.api.selectors`: so a selector change re-decides only requests of pods that
carry the old or new anchor pair); a pod change wakes those held on that pod (whatever a signer
asked to be woken by, through `NotYet.wake_on`); a membership change re-enqueues every pending
request and republishes bundles; a CTB change or pool reload republishes bundles. With
`--federation`, `meshtool.app.federated` adds the FederatedTrustDomain informer, workers and
de-federation sweep (started after the caches sync).

CA rotation: each signer with a pool Secret gets a `rotation.Rotator`, which observes the
published roots (`published.PublishedRoots`, from the CTB cache) and the CA ids every live
replica announces on its Lease (`published.LOADED_ANNOTATION`, written by our heartbeat). The
same published roots gate issuance: no leaf is signed by a CA the bundles do not carry yet.

The SPIFFE bundle endpoint (`bundleservice`, with `--bundle-endpoint-listen`) starts once the
caches are synced, on every replica, and serves from the CTB cache.

Each `Controller` has its own metrics registry, served at its `/metrics`; loops wait on the
injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from meshtool.api import pcr, types
from meshtool.app import bundleservice, components, federated, selfreport, wiring
from meshtool.app.settings import ControllerSettings
from meshtool.app.startup import StartupError as StartupError
from meshtool.app.startup import cluster_issuer, connect, discover
from meshtool.clock import Clock, SystemClock
from meshtool.controllers import cache, events, podcert, published, status, trustbundle
from meshtool.controllers.metrics import Metrics
from meshtool.kube.client import KubeClient
from meshtool.kube.resources import cluster_trust_bundles, pod_certificate_requests
from meshtool.runtime import controller, trigger, workqueue
from meshtool.sharding import membership

log = logging.getLogger("meshtool.app")


async def run(settings: ControllerSettings, *, clock: Clock | None = None) -> None:
    """Run until cancelled or until SIGTERM/SIGINT, which stop the controller gracefully."""
    clock = clock or SystemClock()
    stop_on_signals(asyncio.current_task())
    client = connect(settings)
    try:
        await Controller(settings, client, clock).run()
    except asyncio.CancelledError:
        log.info("stopped")
    finally:
        await client.aclose()


def stop_on_signals(task: asyncio.Task[Any] | None) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, lambda: task.cancel() if task else None)


class Controller(wiring.EventWiring, selfreport.SelfReport):
    def __init__(self, settings: ControllerSettings, client: KubeClient, clock: Clock) -> None:
        self.settings, self.client, self.clock = settings, client, clock
        self.queue: workqueue.WorkQueue[str] = workqueue.WorkQueue()
        self.bundle_trigger = trigger.Trigger()
        self.metrics = Metrics()
        self.setups: list[components.SignerSetup] = []
        self.api_ok = False
        self.legacy_served = False
        self.bundle_service: bundleservice.BundleService | None = None

    async def run(self) -> None:
        pcr_version, ctb_version, self.legacy_served = await discover(self.client)
        log.info("using certificates.k8s.io/%s PCRs, /%s CTBs", pcr_version, ctb_version)
        issuer = await cluster_issuer(self.client, self.settings.cluster_issuer, clock=self.clock)
        self.metrics.cluster_issuer.labels(issuer or "none").set(1)
        self.setups = components.build_signers(
            self.settings,
            clock=self.clock,
            metrics=self.metrics,
            on_pool_change=self._on_pool_change,
            cluster_issuer=issuer,
        )
        for setup in self.setups:
            setup.watcher.check()
        self._build(pcr_version, ctb_version)
        health = self._health()
        if health is not None:
            await health.start()
        try:
            async with asyncio.TaskGroup() as group:
                self._start(group)
        finally:
            await self.membership.release()
            if self.bundle_service is not None:
                await self.bundle_service.stop()
            if health is not None:
                await health.stop()

    def _build(self, pcr_version: str, ctb_version: str) -> None:
        self.informers = components.build_informers(
            self.client,
            settings=self.settings,
            signer_names=[s.signer.signer_name for s in self.setups],
            pcr_version=pcr_version,
            ctb_version=ctb_version,
        )
        inf = self.informers
        self.view = cache.ClusterCache(
            pods=inf.pods,
            services=inf.services,
            service_accounts=inf.service_accounts,
            nodes=inf.nodes,
        )
        self.published = published.PublishedRoots(inf.bundles.values)
        self.membership = self._membership()
        self.recorder = events.EventRecorder(
            self.client, clock=self.clock, instance=self.membership.me, metrics=self.metrics
        )
        self.reconciler = self._reconciler()
        self.rotators = [
            components.build_rotator(
                setup,
                settings=self.settings,
                client=self.client,
                clock=self.clock,
                metrics=self.metrics,
                members=self.membership,
                roots=self.published,
                warn=components.own_pod_warner(self.settings, self.recorder),
            )
            for setup in self.setups
            if setup.secret is not None
        ]
        self.publisher = trustbundle.Publisher(
            client=self.client,
            resource=cluster_trust_bundles(ctb_version),
            specs=lambda: [s.bundle_spec() for s in self.setups],
            actual=inf.bundles.values,
            managed_signers=components.managed_signer_names(self.settings),
            owns=self.membership.owns,
            metrics=self.metrics,
        )
        self.bundle_service = self._bundle_service()
        self.federation = self._federation(ctb_version)
        self._wire_events()

    def _bundle_service(self) -> bundleservice.BundleService | None:
        if not self.settings.bundle_endpoint.listen:
            return None
        spiffe = next(s for s in self.setups if s.sequence_annotation)
        return bundleservice.BundleService(
            self.settings,
            bundles=self.informers.bundles.get,
            spiffe_pool=lambda: spiffe.watcher.pool,
            may_sign=self.published.carries,
            signers=tuple(s.signer.signer_name for s in self.setups),
            clock=self.clock,
            metrics=self.metrics,
        )

    def _federation(self, ctb_version: str) -> federated.Federation | None:
        if not self.settings.federation:
            return None
        return federated.Federation(
            self.settings,
            self.client,
            ctb_version=ctb_version,
            bundles=self.informers.bundles,
            members=self.membership,
            clock=self.clock,
            metrics=self.metrics,
            recorder=self.recorder,
        )

    def _membership(self) -> membership.Membership:
        leases = self.informers.leases
        return membership.Membership(
            identity=self.settings.sharding,
            client=self.client,
            cached_leases=leases.values if leases is not None else tuple,
            clock=self.clock,
            timing=membership.Timing(
                heartbeat=self.settings.lease_heartbeat,
                duration_seconds=self.settings.lease_duration_seconds,
            ),
            annotations=lambda: published.loaded_annotation(
                {s.signer.signer_name: s.watcher.pool for s in self.setups}
            ),
        )

    def _reconciler(self) -> podcert.PodCertReconciler:
        writer = status.StatusWriter(
            client=self.client, recorder=self.recorder, clock=self.clock, metrics=self.metrics
        )
        watchers = {s.signer.signer_name: s.watcher for s in self.setups}
        return podcert.PodCertReconciler(
            lookup=self.informers.pcr,
            signers={s.signer.signer_name: s.signer for s in self.setups},
            pools=lambda name: watchers[name].pool if name in watchers else None,
            view=self.view,
            owns=self.membership.owns,
            writer=writer,
            clock=self.clock,
            metrics=self.metrics,
            timing=podcert.Timing(
                not_mine_requeue=float(self.settings.lease_duration_seconds),
                mismatch_grace=self.settings.identity_mismatch_grace,
            ),
            legacy_reader=self._read_legacy if self.legacy_served else None,
            may_sign=self.published.carries,
        )

    async def _read_legacy(self, request: types.PodCertRequest) -> types.PodCertRequest:
        legacy = pod_certificate_requests(pcr.LEGACY_KEY_VERSION)
        return pcr.parse(await self.client.get(legacy, request.name, namespace=request.namespace))

    def _start(self, group: asyncio.TaskGroup) -> None:
        for informer in self.informers.all():
            group.create_task(informer.run())
        group.create_task(self._after_sync(group))
        for setup in self.setups:
            group.create_task(setup.watcher.run(self.settings.pool_poll_interval))
        group.create_task(self._probe_api())

    async def _after_sync(self, group: asyncio.TaskGroup) -> None:
        for informer in self.informers.all():
            await informer.wait_synced()
        log.info("caches synced; starting %d workers", self.settings.workers)
        self.membership.refresh()
        group.create_task(self.membership.heartbeat())
        group.create_task(self.membership.watch(self._on_membership))
        group.create_task(
            trigger.run_loop(
                self.publisher.sync,
                trigger=self.bundle_trigger,
                resync_period=self.settings.trust_bundle_resync,
                name="trust-bundles",
            )
        )
        for rotator in self.rotators:
            group.create_task(rotator.run())
        if self.bundle_service is not None:
            await self.bundle_service.start()
            group.create_task(self.bundle_service.run())
        if self.federation is not None:
            resync = self.settings.trust_bundle_resync
            group.create_task(self.federation.run(resync_period=resync))
        group.create_task(
            controller.run_workers(
                self.queue,
                self.reconciler,
                workers=self.settings.workers,
                name="podcert",
                observe=lambda outcome, _: self.metrics.series(
                    self.metrics.reconciles, "podcert", outcome
                ).inc(),
            )
        )
