"""The benchmark's load: simulated kubelets creating PodCertificateRequests, and the ceiling.

The fleet itself (`Fleet`, `bodies_for`, `create_all`) is `meshtool.testing.burst`, shared with
the fault suite and re-exported here; `watch_issued` records when each one's Issued status
arrives on a watch (and fails on any other terminal condition). `ceiling` measures the best a
status writer could do: it writes precomputed Issued statuses to PCRs of a signer nobody runs,
with the same HTTP stack. Nothing here starts a control plane or the controller, or reports:
that is `issuance.py`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from meshtool.api import decisions, pcr, status, types
from meshtool.clock import SystemClock
from meshtool.kube import resources
from meshtool.kube.client import KubeClient
from meshtool.pki import capool, issue
from meshtool.testing import fleet, pcrforms
from meshtool.testing.burst import NAMESPACE, Fleet, bodies_for, create_all

__all__ = [
    "Fleet",
    "bodies_for",
    "ceiling",
    "create_all",
    "create_load",
    "create_paced",
    "issued_status",
    "watch_issued",
]
CEILING_SIGNER = "bench.meshtool.invalid/ceiling"
JSON = dict[str, Any]


async def watch_issued(
    admin: KubeClient, resource: resources.Resource, signer: str, count: int
) -> dict[str, float]:
    seen: dict[str, float] = {}
    selector = f"spec.signerName={signer}"
    listed = await admin.list(resource, namespace=NAMESPACE, field_selector=selector)
    for obj in listed.items:
        _note(obj, seen)
    rv = listed.resource_version
    while len(seen) < count:
        async for event in admin.watch(
            resource, namespace=NAMESPACE, field_selector=selector, resource_version=rv
        ):
            if event.type == "BOOKMARK":
                rv = event.object["metadata"]["resourceVersion"]
                continue
            rv = event.object["metadata"]["resourceVersion"]
            _note(event.object, seen)
            if len(seen) >= count:
                break
    return seen


KUBELET_CONCURRENCY = 64
"""How many creates the simulated kubelets have in flight in a burst, in every run."""


async def create_load(
    fl: Fleet, resource: resources.Resource, bodies: list[JSON], *, steady_rate: float = 0.0
) -> dict[str, tuple[float, JSON]]:
    """The kubelets' creates as every run of the benchmark makes them: a burst at
    `KUBELET_CONCURRENCY`, or paced at `steady_rate` per second when that is set."""
    if steady_rate:
        return await create_paced(fl, resource, bodies, rate=steady_rate)
    return await create_all(fl, resource, bodies, KUBELET_CONCURRENCY)


async def create_paced(
    fl: Fleet, resource: resources.Resource, bodies: list[JSON], *, rate: float
) -> dict[str, tuple[float, JSON]]:
    """Create `bodies` at `rate` per second (the i-th at start + i/rate), as kubelets would
    under steady load; {name: (monotonic time the create returned, object)}."""
    created: dict[str, tuple[float, JSON]] = {}
    start = time.monotonic()

    async def one(index: int, body: JSON) -> None:
        await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
        obj = await fleet.create_as_node(fl.node_clients[body["spec"]["nodeName"]], resource, body)
        created[obj["metadata"]["name"]] = (time.monotonic(), obj)

    await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))
    return created


def _note(obj: JSON, seen: dict[str, float]) -> None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    if any(c.get("type") == "Issued" for c in conditions):
        seen.setdefault(obj["metadata"]["name"], time.monotonic())
    elif conditions:
        raise RuntimeError(f"{obj['metadata']['name']} was not issued: {conditions}")


async def ceiling(
    fl: Fleet,
    version: str,
    form: pcrforms.KeyForm,
    count: int,
    concurrency: int,
    pool: capool.CAPool,
) -> float:
    resource = resources.pod_certificate_requests(version)
    targets = await fl.pods("ceiling", count, CEILING_SIGNER)
    created = await create_load(fl, resource, bodies_for(targets, CEILING_SIGNER, version, form))
    clock = SystemClock()
    updates = [_precomputed(obj, pool, clock) for _, obj in created.values()]
    gate = asyncio.Semaphore(concurrency)

    async def put(body: JSON) -> None:
        async with gate:
            name = body["metadata"]["name"]
            await fl.admin.replace(resource, name, body, namespace=NAMESPACE, subresource="status")

    started = time.monotonic()
    await asyncio.gather(*(put(u) for u in updates))
    rate = count / (time.monotonic() - started)
    await fl.remove("ceiling", CEILING_SIGNER, resource)
    return rate


def _precomputed(obj: JSON, pool: capool.CAPool, clock: SystemClock) -> JSON:
    request = pcr.parse(obj)
    return status.status_update(request, issued_status(request, pool, clock))


def issued_status(
    request: types.PodCertRequest, pool: capool.CAPool, clock: SystemClock
) -> status.StatusBody:
    """An Issued status for `request` (a SPIFFE-like leaf from `pool`), computed in advance."""
    assert isinstance(request.public_key, ec.EllipticCurvePublicKey)  # bodies_for makes P-256
    leaf = issue.issue_leaf(
        public_key=request.public_key,
        profile=issue.LeafProfile(uris=(f"spiffe://bench/{request.pod_name}",)),
        max_expiration_seconds=request.max_expiration_seconds,
        ca=pool.signing_ca,
        clock=clock,
    )
    assert isinstance(leaf, issue.IssuedLeaf)
    decision = decisions.Issued(
        chain_pem=leaf.chain_pem,
        not_before=leaf.not_before,
        not_after=leaf.not_after,
        begin_refresh_at=leaf.begin_refresh_at,
    )
    return status.status_body(decision, clock=clock)
