"""A burst of PodCertificateRequests as a fleet of kubelets would create them.

`Fleet` makes a namespace, its ServiceAccount, nodes and pods, and one client per node
authenticating as that node (so NodeRestriction judges every create as a kubelet's).
`bodies_for` builds one PCR per pod with a fresh ECDSA P-256 key; `create_all` creates them as
their nodes, at a bounded concurrency, and records when each create returned. With
`through_outages=True` a create that meets a dead or restarting apiserver is retried until it
lands, and one that landed without us hearing the answer is read back (the bodies need fixed
names for that: `named`). The benchmark (`bench/pcrload.py`) and the fault suite share this.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from meshtool.api.types import KeyType
from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.testing import fleet, pcrforms
from meshtool.testing.controlplane import ControlPlane

NAMESPACE = "bench"
SA = "workload"
BURST_LABEL = "meshtool-burst"
"""On each pod `Fleet.pods` makes: the prefix it was made with, so `remove` finds them."""
OUTAGE_RETRY = 0.5
JSON = dict[str, Any]


class Fleet:
    def __init__(
        self,
        cp: ControlPlane,
        admin: KubeClient,
        nodes: int,
        *,
        namespace: str = NAMESPACE,
        prefix: str = "bench-node",
    ) -> None:
        self.cp, self.admin, self.namespace = cp, admin, namespace
        self.node_names = [f"{prefix}-{i}" for i in range(nodes)]
        self.node_clients: dict[str, KubeClient] = {}

    async def prepare(self) -> None:
        await fleet.create_namespace(self.admin, self.namespace, [SA])
        self.node_uids = await fleet.create_nodes(self.admin, self.node_names)
        sa = await self.admin.get(resources.SERVICE_ACCOUNTS, SA, namespace=self.namespace)
        self.sa_uid = sa["metadata"]["uid"]
        for node in self.node_names:
            kubeconfig = self.cp.user(f"system:node:{node}", ["system:nodes"])
            self.node_clients[node] = self.cp.client(kubeconfig, qps=1e6, burst=1_000_000)

    async def pods(self, prefix: str, count: int, signer: str) -> list[pcrforms.PodTarget]:
        bodies = [
            fleet.pod_body(
                self.namespace,
                f"{prefix}-{i}",
                node=self.node_names[i % len(self.node_names)],
                service_account=SA,
                sources=[fleet.pod_certificate_source(signer)],
                labels={BURST_LABEL: prefix},
            )
            for i in range(count)
        ]
        created = await fleet.gather_limited(
            (fleet.ensure(self.admin, resources.PODS, b) for b in bodies), limit=48
        )
        return [self._target(pod) for pod in created]

    async def remove(self, prefix: str, signer: str, pcrs: resources.Resource) -> None:
        """Delete the pods made with `prefix` (at once: no kubelet confirms them) and the
        requests of `signer`, so the next burst meets the apiserver with the objects this one
        met, not with every earlier burst's too."""
        requests = await self.admin.list(
            pcrs, field_selector=f"spec.signerName={signer}", namespace=self.namespace
        )
        pods = await self.admin.list(
            resources.PODS, label_selector=f"{BURST_LABEL}={prefix}", namespace=self.namespace
        )
        deletes = [self._delete(pcrs, obj) for obj in requests.items]
        deletes += [self._delete(resources.PODS, obj, grace=0) for obj in pods.items]
        await fleet.gather_limited(deletes, limit=48)

    async def _delete(
        self, resource: resources.Resource, obj: JSON, grace: int | None = None
    ) -> None:
        with contextlib.suppress(errors.NotFound):
            name = obj["metadata"]["name"]
            await self.admin.delete(
                resource, name, namespace=self.namespace, grace_period_seconds=grace
            )

    def _target(self, pod: JSON) -> pcrforms.PodTarget:
        node = pod["spec"]["nodeName"]
        return pcrforms.PodTarget(
            namespace=self.namespace,
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


def named(bodies: list[JSON], prefix: str, labels: dict[str, str] | None = None) -> list[JSON]:
    """The same bodies with fixed names `prefix-<i>` (instead of generateName) and `labels`."""
    for i, body in enumerate(bodies):
        meta = body["metadata"]
        meta.pop("generateName", None)
        meta["name"] = f"{prefix}-{i}"
        meta["labels"] = {**(meta.get("labels") or {}), **(labels or {})}
    return bodies


async def create_all(
    fl: Fleet,
    resource: resources.Resource,
    bodies: list[JSON],
    concurrency: int,
    *,
    through_outages: bool = False,
) -> dict[str, tuple[float, JSON]]:
    gate = asyncio.Semaphore(concurrency)
    created: dict[str, tuple[float, JSON]] = {}
    create = _create_through_outages if through_outages else fleet.create_as_node

    async def one(body: JSON) -> None:
        async with gate:
            obj = await create(fl.node_clients[body["spec"]["nodeName"]], resource, body)
            created[obj["metadata"]["name"]] = (time.monotonic(), obj)

    await asyncio.gather(*(one(b) for b in bodies))
    return created


async def _create_through_outages(
    client: KubeClient, resource: resources.Resource, body: JSON
) -> JSON:
    meta = body["metadata"]
    while True:
        try:
            return await fleet.create_as_node(client, resource, body)
        except errors.Conflict:  # it landed before the outage; we missed the answer
            return await client.get(resource, meta["name"], namespace=meta["namespace"])
        except (errors.TransportError, errors.ServerError, errors.TooManyRequests):
            await asyncio.sleep(OUTAGE_RETRY)
