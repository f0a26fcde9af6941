"""A kubelet simulator: what one node's kubelet does for projected certificate volumes.

`KubeletSimulator` talks to a real kube-apiserver **as the node** (`system:node:<name>`, group
`system:nodes`), so the Node authorizer and NodeRestriction judge every request exactly as they
would judge a kubelet's. It never creates pods; tests create them (as admin) with `spec.nodeName`.

What it does, per started simulator:
* registers its Node (a node may create its own Node object; AlreadyExists is fine);
* watches the pods bound to it (`spec.nodeName=<node>`), its Node, PodCertificateRequests for it
  (`spec.nodeName=<node>`) and all ClusterTrustBundles;
* for each pod volume with `projected` `podCertificate` sources, runs a `podcerts.Projection`
  per source: fresh key, PCR created as the node in the pod's namespace, wait for a terminal
  condition, write, refresh at `beginRefreshAt` (+ jitter);
* writes every projected volume holding podCertificate / clusterTrustBundle sources into
  `root_dir/<namespace>/<pod>/<volume>/` in one AtomicWriter swap, once all its sources are
  available, and rewrites it when credentials or matching ClusterTrustBundles change. Other
  source kinds (configMap, secret, ...) are ignored.

The PCR API version is the constructor's `pcr_version`, else the newest served (v1 > v1beta1 >
v1alpha1). The key form follows the server release (`pcrforms.default_form`), unless `key_form`
overrides it. Decisions about time use the injected clock; waiting uses asyncio, waking at
least every `tick` seconds so a fake clock that jumps is noticed. No state survives `stop()`.

This module is the wiring and the test-facing queries. The requests it makes as the node
(discovery, informers, PCR bodies, events) are `nodeapi`'s; each source's request/refresh state
machine is `podcerts.Projection`; writing volumes is `simstate.PodRecord.render`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from meshtool.clock import Clock
from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.runtime.informer import Informer
from meshtool.testing import nodeapi, pcrforms
from meshtool.testing.pcrforms import KeyForm
from meshtool.testing.podcerts import Condition, Projection, ProjectionFailed, SourceStatus
from meshtool.testing.simstate import Counters, PodRecord, relevant_volumes

__all__ = ["Counters", "KeyForm", "KubeletSimulator", "ProjectionFailed", "SourceStatus"]

JSON = dict[str, Any]
JITTER_MAX = dt.timedelta(minutes=5)
SYNC_TIMEOUT = 30.0
log = logging.getLogger(__name__)


class KubeletSimulator:
    def __init__(
        self,
        client: KubeClient,
        node_name: str,
        root_dir: Path,
        clock: Clock,
        *,
        jitter: bool = True,
        pcr_version: str | None = None,
        key_form: KeyForm | None = None,
        tick: float = 1.0,
        post_events: bool = True,
    ) -> None:
        self.client, self.node_name, self.root_dir = client, node_name, Path(root_dir)
        self.clock, self.tick = clock, tick
        self.pcr_version, self.key_form = pcr_version, key_form
        self.ctb_version: str | None = None
        self.counters = Counters()
        self.created_pcrs: list[tuple[str, str]] = []
        """(namespace, name) of every PCR this simulator created, in order."""
        self._jitter, self._post_events = jitter, post_events
        self._rng = random.Random()
        self._pods: dict[str, PodRecord] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self._informers: dict[str, Informer[JSON]] = {}

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> KubeletSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        await nodeapi.register_node(self.client, self.node_name)
        await self._choose_versions()
        assert self.pcr_version is not None
        self._informers = nodeapi.informers(
            self.client, self.node_name, self.pcr_version, self.ctb_version
        )
        self._informers["pods"].on_change(self._pod_changed)
        self._informers["pcrs"].on_change(lambda *_: self._poke())
        self._informers["node"].on_change(lambda *_: self._poke())
        if "ctbs" in self._informers:
            self._informers["ctbs"].on_change(lambda *_: self._render_all())
        for name, informer in self._informers.items():
            self._spawn(informer.run(), f"informer-{name}")
        try:
            async with asyncio.timeout(SYNC_TIMEOUT):
                await asyncio.gather(*(i.wait_synced() for i in self._informers.values()))
        except BaseException:
            await self.stop()  # e.g. a watch the Node authorizer refuses never syncs
            raise

    async def stop(self) -> None:
        tasks = self._tasks + [t for rec in self._pods.values() for t in rec.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._pods.clear()

    async def _choose_versions(self) -> None:
        versions = await nodeapi.choose_versions(self.client, self.pcr_version, self.key_form)
        self.pcr_version, self.ctb_version, self.key_form = versions

    def _spawn(self, coro: Any, name: str, into: list[asyncio.Task[None]] | None = None) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"kubelet-{name}")
        (self._tasks if into is None else into).append(task)

    # -- pods ------------------------------------------------------------------------------

    def _pod_changed(self, key: str, old: JSON | None, new: JSON | None) -> None:
        rec = self._pods.get(key)
        if rec is not None and (new is None or rec.uid != new["metadata"]["uid"]):
            self._forget(key, rec)
            rec = None
        if rec is None and new is not None and relevant_volumes(new):
            self._track(key, new)
        elif rec is not None and new is not None:
            rec.pod = new
        self._poke()

    def _track(self, key: str, pod: JSON) -> None:
        rec = PodRecord(pod)
        self._pods[key] = rec
        for volume in relevant_volumes(pod):
            for index, source in enumerate(volume.sources):
                if "podCertificate" in source:
                    projection = Projection(
                        self, pod, volume=volume.name, index=index, source=source["podCertificate"]
                    )
                    rec.projections.append(projection)
                    self._spawn(projection.run(), f"{key}/{volume.name}/{index}", rec.tasks)
        self._render(rec)

    def _forget(self, key: str, rec: PodRecord) -> None:
        for task in rec.tasks:
            task.cancel()
        del self._pods[key]
        shutil.rmtree(self._pod_dir(key), ignore_errors=True)

    # -- rendering volumes -----------------------------------------------------------------

    def _render_all(self) -> None:
        for rec in self._pods.values():
            self._render(rec)
        self._poke()

    def _render(self, rec: PodRecord) -> None:
        bundles = self._informers["ctbs"].values() if "ctbs" in self._informers else []
        now = self.clock.now()
        self.counters.volume_writes += rec.render(self._pod_dir(rec.key), bundles, now=now)

    def _pod_dir(self, key: str) -> Path:
        namespace, name = key.split("/", 1)
        return self.root_dir / namespace / name

    # -- podcerts.Host ---------------------------------------------------------------------

    def jitter(self) -> dt.timedelta:
        return self._rng.random() * JITTER_MAX if self._jitter else dt.timedelta(0)

    async def create_pcr(
        self, pod: JSON, source: Mapping[str, Any], key: pcrforms.PrivateKey
    ) -> JSON:
        assert self.pcr_version is not None and self.key_form is not None
        node = self._informers["node"].get(self.node_name)
        body = await nodeapi.pcr_body(
            self.client,
            pod,
            source,
            key,
            node=node,
            node_name=self.node_name,
            version=self.pcr_version,
            form=self.key_form,
        )
        namespace = pod["metadata"]["namespace"]
        resource = resources.pod_certificate_requests(self.pcr_version)
        try:
            created = await self.client.create(resource, body, namespace=namespace)
        except errors.KubeError:
            self.counters.create_errors += 1
            raise
        self.counters.pcrs_created += 1
        self.created_pcrs.append((namespace, created["metadata"]["name"]))
        return created

    def cached_pcr(self, namespace: str, name: str) -> JSON | None:
        return self._informers["pcrs"].get(f"{namespace}/{name}")

    async def wait_change(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._changed.wait()

    def credentials_changed(self, projection: Projection) -> None:
        rec = self._pods.get(_pod_key(projection.pod))
        if rec is not None:
            self._render(rec)
        self._poke()

    def terminal(self, projection: Projection, condition: Condition) -> None:
        self.counters.count(condition.type)
        if condition.type != "Issued" and self._post_events:
            event = nodeapi.post_warning(
                self.client, projection.pod, condition, node=self.node_name, now=self.clock.now()
            )
            self._spawn(event, "event")
        self._poke()

    def _poke(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- queries for tests -----------------------------------------------------------------

    def volume_dir(self, namespace: str, pod: str, volume: str) -> Path:
        return self.root_dir / namespace / pod / volume

    def state(self, namespace: str, pod: str) -> list[SourceStatus]:
        """Status of every podCertificate source of the pod (empty if it is not tracked)."""
        rec = self._pods.get(f"{namespace}/{pod}")
        return [p.status() for p in rec.projections] if rec else []

    def volume_error(self, namespace: str, pod: str, volume: str) -> str | None:
        rec = self._pods.get(f"{namespace}/{pod}")
        return rec.errors.get(volume) if rec else None

    async def wait_ready(self, namespace: str, pod: str, timeout: float = 60.0) -> Path:
        """Wait until all the pod's certificate volumes are written; returns the pod's dir.

        Raises ProjectionFailed when a source is Denied/Failed, TimeoutError otherwise.
        """
        key = f"{namespace}/{pod}"
        await self._wait_for(lambda: self._ready(key), timeout, key)
        return self._pod_dir(key)

    async def refresh_now(self, namespace: str, pod: str, timeout: float = 60.0) -> None:
        """Make every podCertificate source of the pod refresh now; return once rewritten."""
        key = f"{namespace}/{pod}"
        rec = self._pods.get(key)
        if rec is None or not rec.projections:
            raise LookupError(f"{key} has no tracked podCertificate sources")
        before = {id(p): p.issued_count for p in rec.projections}
        for projection in rec.projections:
            projection.raise_if_refused()
            projection.request_refresh()
        done = lambda: all(p.issued_count > before[id(p)] for p in rec.projections)  # noqa: E731
        await self._wait_for(done, timeout, key)

    def _ready(self, key: str) -> bool:
        rec = self._pods.get(key)
        if rec is None:
            return False
        for projection in rec.projections:
            projection.raise_if_refused()
        return rec.ready()

    async def _wait_for(self, predicate: Callable[[], bool], timeout: float, key: str) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self.wait_change(self.tick)
        except TimeoutError as exc:
            raise TimeoutError(
                f"{key}: not done after {timeout}s: {self.state(*key.split('/', 1))}"
            ) from exc


def _pod_key(pod: JSON) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
