"""The benchmark's load: simulated kubelets creating PodCertificateRequests, and the ceiling.

`Fleet` makes the benchmark's namespace, ServiceAccount, nodes and pods, and one client per
node authenticating as that node (so NodeRestriction judges every create as a kubelet's).
`bodies_for` builds one PCR per pod with a fresh ECDSA P-256 key; `create_all` creates them as
their nodes; `watch_issued` records when each one's Issued status arrives on a watch (and fails
on any other terminal condition). `ceiling` measures the best a status writer could do: it writes
precomputed Issued statuses to PCRs of a signer nobody runs, with the same HTTP stack. Nothing
here starts a control plane or the controller, or reports: that is `issuance.py`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from meshtool.api import decisions, pcr, status
from meshtool.api.types import KeyType
from meshtool.clock import SystemClock
from meshtool.kube import resources
from meshtool.kube.client import KubeClient
from meshtool.pki import capool, issue
from meshtool.testing import fleet, pcrforms
from meshtool.testing.controlplane import ControlPlane

CEILING_SIGNER = "bench.meshtool.invalid/ceiling"
NAMESPACE = "bench"
SA = "workload"
JSON = dict[str, Any]


class Fleet:
    def __init__(self, cp: ControlPlane, admin: KubeClient, nodes: int) -> None:
        self.cp, self.admin = cp, admin
        self.node_names = [f"bench-node-{i}" for i in range(nodes)]
        self.node_clients: dict[str, KubeClient] = {}

    async def prepare(self) -> None:
        await fleet.create_namespace(self.admin, NAMESPACE, [SA])
        self.node_uids = await fleet.create_nodes(self.admin, self.node_names)
        sa = await self.admin.get(resources.SERVICE_ACCOUNTS, SA, namespace=NAMESPACE)
        self.sa_uid = sa["metadata"]["uid"]
        for node in self.node_names:
            kubeconfig = self.cp.user(f"system:node:{node}", ["system:nodes"])
            self.node_clients[node] = self.cp.client(kubeconfig, qps=1e6, burst=1_000_000)

    async def pods(self, prefix: str, count: int, signer: str) -> list[pcrforms.PodTarget]:
        bodies = [
            fleet.pod_body(
                NAMESPACE,
                f"{prefix}-{i}",
                node=self.node_names[i % len(self.node_names)],
                service_account=SA,
                sources=[fleet.pod_certificate_source(signer)],
            )
            for i in range(count)
        ]
        created = await fleet.gather_limited(
            (fleet.ensure(self.admin, resources.PODS, b) for b in bodies), limit=48
        )
        return [self._target(pod) for pod in created]

    def _target(self, pod: JSON) -> pcrforms.PodTarget:
        node = pod["spec"]["nodeName"]
        return pcrforms.PodTarget(
            namespace=NAMESPACE,
            pod_name=pod["metadata"]["name"],
            pod_uid=pod["metadata"]["uid"],
            service_account_name=SA,
            service_account_uid=self.sa_uid,
            node_name=node,
            node_uid=self.node_uids[node],
        )

    async def aclose(self) -> None:
        for client in self.node_clients.values():
            await client.aclose()


def bodies_for(
    targets: list[pcrforms.PodTarget], signer: str, version: str, form: pcrforms.KeyForm
) -> list[JSON]:
    return [
        pcrforms.pcr_body(
            form,
            target,
            version=version,
            signer_name=signer,
            key=pcrforms.generate_key(KeyType.ECDSAP256),
        )
        for target in targets
    ]


async def create_all(
    fl: Fleet, resource: resources.Resource, bodies: list[JSON], concurrency: int
) -> dict[str, tuple[float, JSON]]:
    gate = asyncio.Semaphore(concurrency)
    created: dict[str, tuple[float, JSON]] = {}

    async def one(body: JSON) -> None:
        async with gate:
            client = fl.node_clients[body["spec"]["nodeName"]]
            obj = await fleet.create_as_node(client, resource, body)
            created[obj["metadata"]["name"]] = (time.monotonic(), obj)

    await asyncio.gather(*(one(b) for b in bodies))
    return created


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
    created = await create_all(fl, resource, bodies_for(targets, CEILING_SIGNER, version, form), 64)
    clock = SystemClock()
    updates = [_precomputed(obj, pool, clock) for _, obj in created.values()]
    gate = asyncio.Semaphore(concurrency)

    async def put(body: JSON) -> None:
        async with gate:
            name = body["metadata"]["name"]
            await fl.admin.replace(resource, name, body, namespace=NAMESPACE, subresource="status")

    started = time.monotonic()
    await asyncio.gather(*(put(u) for u in updates))
    return count / (time.monotonic() - started)


def _precomputed(obj: JSON, pool: capool.CAPool, clock: SystemClock) -> JSON:
    request = pcr.parse(obj)
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
    return status.status_update(request, status.status_body(decision, clock=clock))
