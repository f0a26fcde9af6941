"""The bundle endpoint as one component of the controller: built from settings, run, reported.

`BundleService` joins the pure routes (`bundleroutes`), the listener (`bundleendpoint`) and the
serving certificate (`endpointcreds`) to the controller's caches: bundles are looked up in the
CTB informer by their signer-linked primary name (`bundles` is the cache's `get`), the SVID is
signed by the spiffe signer's loaded pool, and the published-roots gate is the one issuance
uses. Every replica serves (the endpoint is not sharded: all of them read the same cached
objects). `run` refreshes the certificate every `CHECK_INTERVAL` seconds of the injected clock
(a comparison when nothing is due) and keeps the metrics current; `report` and `problem` feed
/healthz and /readyz.
"""

from __future__ import annotations

from collections.abc import Callable

from meshtool.api import trustbundle
from meshtool.app import bundleendpoint, bundleroutes, endpointcreds
from meshtool.app.settings import ControllerSettings
from meshtool.clock import Clock
from meshtool.controllers import trustbundle as publisher
from meshtool.controllers.metrics import Metrics
from meshtool.pki import issue
from meshtool.pki.capool import CA, CAPool
from meshtool.signers import names

CHECK_INTERVAL = 2.0
"""Seconds between certificate checks: the pool watcher's poll interval, so a rotation's
activation reaches the SVID within two polls."""

Credentials = endpointcreds.SvidSource | endpointcreds.WebFiles


class BundleService:
    def __init__(
        self,
        settings: ControllerSettings,
        *,
        bundles: Callable[[str], trustbundle.TrustBundle | None],
        spiffe_pool: Callable[[], CAPool | None],
        may_sign: Callable[[str, CA], bool],
        signers: tuple[str, ...],
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        config = settings.bundle_endpoint
        signer_names = names.SignerNames(settings.signer_domain)
        spiffe = signer_names.spiffe
        self.routes = bundleroutes.Routes(
            spiffe_signer=spiffe,
            signers=signers,
            sequence_annotation=signer_names.spiffe_bundle_sequence_annotation,
            refresh_hint=config.refresh_hint,
        )
        self.profile, self._bundles, self._clock = config.profile, bundles, clock
        self._metrics = metrics
        self.credentials = self._credentials(settings, spiffe_pool, lambda ca: may_sign(spiffe, ca))
        assert config.listen is not None
        self.endpoint = bundleendpoint.BundleEndpoint(
            config.listen,
            routes=self.routes,
            bundles=self.lookup,
            credentials=self.credentials.current,
            metrics=metrics,
        )
        metrics.bundle_endpoint_sequence.set_function(self._sequence)
        metrics.bundle_endpoint_cert_not_after.set_function(self._not_after)

    def _credentials(
        self,
        settings: ControllerSettings,
        pool: Callable[[], CAPool | None],
        may_sign: Callable[[CA], bool],
    ) -> Credentials:
        config = settings.bundle_endpoint
        if config.profile == "https_web":
            assert config.cert_file is not None and config.key_file is not None
            return endpointcreds.WebFiles(cert_file=config.cert_file, key_file=config.key_file)
        return endpointcreds.SvidSource(
            spiffe_id=config.endpoint_id(settings.spiffe_trust_domain),
            pool=pool,
            may_sign=may_sign,
            lifetime=issue.LifetimePolicy(refresh_fraction=settings.refresh_fraction),
            clock=self._clock,
        )

    def lookup(self, signer_name: str) -> trustbundle.TrustBundle | None:
        """The signer's primary bundle in the cache (by name: O(1) per request)."""
        bundle = self._bundles(trustbundle.bundle_name(signer_name))
        return bundle if bundle is not None and bundle.signer_name == signer_name else None

    async def start(self) -> None:
        self.credentials.refresh()
        await self.endpoint.start()

    async def stop(self) -> None:
        await self.endpoint.stop()

    async def run(self) -> None:
        while True:
            self.credentials.refresh()
            await self._clock.sleep(CHECK_INTERVAL)

    def problem(self) -> str | None:
        why = self.credentials.problem or (None if self.endpoint.listening else "not listening yet")
        return f"bundle endpoint ({self.profile}): {why}" if why else None

    def report(self) -> list[str]:
        state = self.problem() or f"bundle endpoint ({self.profile}): serving"
        expiry = self.credentials.not_after
        return [state + (f", certificate expires {expiry.isoformat()}" if expiry else "")]

    def _sequence(self) -> float:
        have = self.lookup(self.routes.spiffe_signer)
        if have is None:
            return 0.0
        return float(
            publisher.read_sequence(have.annotations, self.routes.sequence_annotation) or 0
        )

    def _not_after(self) -> float:
        expiry = self.credentials.not_after
        return expiry.timestamp() if expiry is not None else 0.0
