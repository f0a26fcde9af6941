"""The federation controller: peer bundles of FederatedTrustDomains, fetched and published.

`FederationReconciler.reconcile(name)` is keyed by the FederatedTrustDomain's name and sharded
like PCRs (the owner of the key does the work; others look again after a Lease duration). It:
1. forgets a deleted object (its CTB goes in the `Sweeper`'s next pass);
2. reports an unusable spec, a second object for the same trust domain (the first name wins) or
   our own trust domain on the status, and stops until the object changes;
3. waits until the peer is due (`peerschedule`), then fetches (`bundlefetch`) with the trust of
   the published CTB, else the bootstrap bundle, parses (`api.spiffebundle.parse`) and, when
   `peerschedule.accept` says so, replaces the CTB; a failure changes nothing published;
4. writes the status (only when it changed) and a Warning Event for a failure.
The last good bundle lives in the federated CTB (anchors as PEM, sequence and hint as
annotations), never only in memory: after a restart or a hand-off the new owner authenticates
the endpoint with it and keeps refusing lower sequences. The schedule survives too: the status'
`nextFetchTime` and `consecutiveFailures` seed it when its `observedGeneration` is current.

`Sweeper.sync` is de-federation, level-triggered and owner-less: the owner of `SWEEP_KEY`
deletes every federated CTB of our spiffe signer whose trust domain no FederatedTrustDomain
names. No finalizer: deleting an object never waits for a running controller.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from meshtool.api import federation, spiffebundle, trustbundle
from meshtool.api.federation import Federation
from meshtool.clock import Clock
from meshtool.controllers import bundlefetch, events, peerschedule
from meshtool.controllers.metrics import Metrics
from meshtool.kube import errors
from meshtool.kube.client import KubeClient
from meshtool.kube.resources import Resource
from meshtool.pki import pem
from meshtool.runtime.controller import Result
from meshtool.signers import names

log = logging.getLogger("meshtool.controllers.federation")

SWEEP_KEY = "federation-cleanup"
Failure = bundlefetch.FetchError | spiffebundle.BundleError | peerschedule.StaleSequence


@dataclass(frozen=True, slots=True)
class Context:
    signer_name: str
    """Our spiffe signer, to which every federated CTB is linked."""
    domain: str
    trust_domain: str
    """Our own trust domain (the workload trust domain of the CTB labels)."""
    ctb: Resource
    federations: Resource
    timing: peerschedule.Timing
    limits: bundlefetch.Limits
    not_mine_requeue: float = 15.0


class FederationReconciler:
    def __init__(
        self,
        *,
        client: KubeClient,
        context: Context,
        lookup: Callable[[str], Federation | None],
        everything: Callable[[], Iterable[Federation]],
        bundle: Callable[[str], trustbundle.TrustBundle | None],
        owns: Callable[[str], bool],
        clock: Clock,
        metrics: Metrics,
        recorder: events.EventRecorder,
    ) -> None:
        self._client, self._ctx, self._lookup, self._all = client, context, lookup, everything
        self._bundle, self._owns, self._clock = bundle, owns, clock
        self._metrics, self._recorder = metrics, recorder
        self._peers: dict[str, peerschedule.Peer] = {}

    async def reconcile(self, name: str) -> Result | None:
        fed = self._lookup(name)
        if fed is None:
            self._forget(self._peers.pop(name, None))
            return None
        if not self._owns(name):
            return Result(requeue_after=self._ctx.not_mine_requeue)
        problem = fed.problem or self._conflict(fed)
        if problem:
            reason = "InvalidSpec" if fed.problem else "Conflict"
            ready = federation.Ready(False, reason, problem)
            await self._write_status(fed, self._status(fed, ready))
            return None
        now = self._clock.now()
        peer = self._peer(fed, now)
        if now >= peer.next_at:
            await self._attempt(fed, peer, now)
        return Result(requeue_after=max(0.0, (peer.next_at - self._clock.now()).total_seconds()))

    def _conflict(self, fed: Federation) -> str:
        if fed.trust_domain == self._ctx.trust_domain:
            return f"spec.trustDomain {fed.trust_domain!r} is this cluster's own trust domain"
        for other in self._all():
            if other.trust_domain == fed.trust_domain and other.name < fed.name:
                return f"{federation.KIND} {other.name} already federates {fed.trust_domain!r}"
        return ""

    def _peer(self, fed: Federation, now: dt.datetime) -> peerschedule.Peer:
        peer = self._peers.get(fed.name)
        if peer is None or peer.generation != fed.generation:
            if peer is not None and peer.trust_domain != fed.trust_domain:
                self._forget(peer)
            peer = self._peers[fed.name] = peerschedule.restored(
                fed.generation, fed.trust_domain, fed.status, now, self._published(fed) is not None
            )
        return peer

    def _forget(self, peer: peerschedule.Peer | None) -> None:
        if peer is not None:
            self._metrics.forget_trust_domain(peer.trust_domain)

    async def _attempt(self, fed: Federation, peer: peerschedule.Peer, now: dt.datetime) -> None:
        published = self._published(fed)
        td, hint = fed.trust_domain, published.refresh_hint if published else None
        try:
            bundle = await self._fetch(fed, published, now)
            changed = peerschedule.accept(bundle, published)
        except (bundlefetch.FetchError, spiffebundle.BundleError, peerschedule.StaleSequence) as e:
            await self._failed(fed, peer, now, hint, _reason(e), f"fetch from {fed.url}: {e}")
            return
        try:
            if changed:
                await self._publish(fed, bundle)
        except errors.KubeError as exc:
            await self._failed(fed, peer, now, hint, "publish", f"publish the bundle: {exc}")
            return
        peer.failures, peer.next_at = (
            0,
            peerschedule.next_after_success(now, bundle.refresh_hint, self._ctx.timing),
        )
        self._metrics.count_fetch(td, "success")
        self._metrics.federation_last_success.labels(trust_domain=td).set(now.timestamp())
        self._metrics.federation_sequence.labels(trust_domain=td).set(bundle.sequence or 0)
        log.info("%s: fetched %s (sequence %s)", fed.name, fed.url, bundle.sequence)
        ok = f"bundle of {td} fetched from {fed.url} (sequence {bundle.sequence})"
        fetched = (now, bundle.sequence, bundle.refresh_hint)
        status = self._status(fed, federation.Ready(True, "Fetched", ok), peer, fetched)
        await self._write_status(fed, status)

    async def _fetch(
        self, fed: Federation, published: peerschedule.Published | None, now: dt.datetime
    ) -> spiffebundle.SpiffeBundle:
        roots: tuple[x509.Certificate, ...] = ()
        if fed.profile == federation.HTTPS_SPIFFE:
            with contextlib.suppress(pem.PemError):
                roots = pem.certificates(published.pem) if published else ()
            if not roots and fed.bootstrap:
                roots = _bootstrap(fed, now).x509_authorities
        target = bundlefetch.Target(fed.url, fed.profile, fed.endpoint_id, roots)
        return spiffebundle.parse(await bundlefetch.fetch(target, self._ctx.limits), now=now)

    async def _failed(
        self,
        fed: Federation,
        peer: peerschedule.Peer,
        now: dt.datetime,
        hint: int | None,
        reason: str,
        msg: str,
    ) -> None:
        peer.failures += 1
        peer.next_at = peerschedule.next_after_failure(now, peer.failures, hint, self._ctx.timing)
        self._metrics.count_fetch(fed.trust_domain, reason)
        log.warning("%s: %s (%s, failure %d in a row)", fed.name, msg, reason, peer.failures)
        kept = "; the published bundle is kept" if self._published(fed) else ""
        ready = federation.Ready(False, "FetchFailed", msg + kept)
        await self._write_status(fed, self._status(fed, ready, peer, error=(msg, now)))
        regarding = {"apiVersion": f"{federation.GROUP}/{federation.VERSION}"}
        regarding |= {"kind": federation.KIND, "name": fed.name, "uid": fed.uid}
        await self._recorder.post(
            regarding, type_="Warning", reason="BundleFetchFailed", action="FetchBundle", note=msg
        )

    def _published(self, fed: Federation) -> peerschedule.Published | None:
        have = self._bundle(federation.ctb_name(self._ctx.signer_name, fed.trust_domain))
        if have is None or have.signer_name != self._ctx.signer_name:
            return None
        notes, domain = have.annotations, self._ctx.domain
        return peerschedule.Published(
            pem=have.pem,
            sequence=peerschedule.as_int(
                notes.get(names.SignerNames(domain).spiffe_bundle_sequence_annotation)
            ),
            refresh_hint=peerschedule.as_int(notes.get(federation.refresh_hint_annotation(domain))),
        )

    async def _publish(self, fed: Federation, bundle: spiffebundle.SpiffeBundle) -> None:
        ctx, name = self._ctx, federation.ctb_name(self._ctx.signer_name, fed.trust_domain)
        labels = federation.labels(
            ctx.domain, own_trust_domain=ctx.trust_domain, peer_trust_domain=fed.trust_domain
        )
        notes = {names.SignerNames(ctx.domain).spiffe_bundle_sequence_annotation: bundle.sequence}
        notes[federation.refresh_hint_annotation(ctx.domain)] = bundle.refresh_hint
        body: dict[str, Any] = dict(
            trustbundle.ctb_body(
                version=ctx.ctb.version,
                name=name,
                signer_name=ctx.signer_name,
                labels=labels,
                pem=bundle.pem(),
                annotations={k: str(v) for k, v in notes.items() if v is not None},
            )
        )
        have = self._bundle(name)
        if have is None:
            await self._client.create(ctx.ctb, body)
        else:
            body["metadata"]["resourceVersion"] = have.resource_version
            await self._client.replace(ctx.ctb, name, body)
        log.info("published %s for %s (sequence %s)", name, fed.trust_domain, bundle.sequence)

    def _status(
        self,
        fed: Federation,
        ready: federation.Ready,
        peer: peerschedule.Peer | None = None,
        fetched: tuple[dt.datetime, int | None, int | None] | None = None,
        error: tuple[str, dt.datetime] | None = None,
    ) -> dict[str, Any]:
        schedule = (peer.next_at, peer.failures) if peer is not None else None
        return federation.status_body(
            fed, ready, now=self._clock.now(), schedule=schedule, fetched=fetched, error=error
        )

    async def _write_status(self, fed: Federation, status: dict[str, Any]) -> None:
        if {k: v for k, v in status.items() if v is not None} == dict(fed.status):
            return
        await self._client.patch(
            self._ctx.federations, fed.name, {"status": status}, subresource="status"
        )


class Sweeper:
    """De-federation: delete the federated CTBs of trust domains no object names any more."""

    def __init__(
        self,
        *,
        client: KubeClient,
        context: Context,
        everything: Callable[[], Iterable[Federation]],
        bundles: Callable[[], Iterable[trustbundle.TrustBundle]],
        synced: Callable[[], bool],
        owns: Callable[[str], bool],
    ) -> None:
        self._client, self._ctx, self._all, self._bundles = client, context, everything, bundles
        self._synced, self._owns = synced, owns

    def orphans(self) -> list[trustbundle.TrustBundle]:
        signer = self._ctx.signer_name
        keep = {federation.ctb_name(signer, f.trust_domain) for f in self._all() if f.trust_domain}
        return [
            b
            for b in self._bundles()
            if b.signer_name == signer and federation.is_federated(b.name) and b.name not in keep
        ]

    async def sync(self) -> None:
        if not self._synced() or not self._owns(SWEEP_KEY):
            return
        for bundle in self.orphans():
            with contextlib.suppress(errors.NotFound):
                await self._client.delete(self._ctx.ctb, bundle.name)
            log.info("de-federated: deleted %s", bundle.name)


def _bootstrap(fed: Federation, now: dt.datetime) -> spiffebundle.SpiffeBundle:
    try:
        return spiffebundle.parse(fed.bootstrap.encode(), now=now)
    except spiffebundle.BundleError as exc:
        raise spiffebundle.BundleError(f"spec.trustDomainBundle: {exc}") from None


def _reason(exc: Failure) -> str:
    if isinstance(exc, bundlefetch.FetchError):
        return exc.reason
    return "stale_sequence" if isinstance(exc, peerschedule.StaleSequence) else "invalid_bundle"
