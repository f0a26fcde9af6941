"""Cluster objects for tests, the benchmark and the demo: namespaces, nodes, pods, Services.

There is no scheduler, kubelet or service-account controller in the local control plane, so
the fleet creates what they would: Nodes, ServiceAccounts, and pods already bound to a node
(`spec.nodeName`). Pods carry a projected volume with `podCertificate` (and optionally
`clusterTrustBundle`) sources, exactly as a workload would declare them. Everything is created
as admin, concurrently where there are many.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, TypeVar

from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient

JSON = dict[str, Any]
T = TypeVar("T")


def namespace_body(name: str) -> JSON:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def service_account_body(namespace: str, name: str) -> JSON:
    meta = {"name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


def node_body(name: str) -> JSON:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}


def pod_certificate_source(
    signer_name: str,
    *,
    key_type: str = "ECDSAP256",
    path: str = "credentials.pem",
    max_expiration_seconds: int | None = None,
    user_annotations: Mapping[str, str] | None = None,
) -> JSON:
    source: JSON = {"signerName": signer_name, "keyType": key_type, "credentialBundlePath": path}
    if max_expiration_seconds is not None:
        source["maxExpirationSeconds"] = max_expiration_seconds
    if user_annotations:
        source["userAnnotations"] = dict(user_annotations)
    return {"podCertificate": source}


def pod_body(
    namespace: str,
    name: str,
    *,
    node: str,
    service_account: str,
    sources: Iterable[JSON],
    labels: Mapping[str, str] | None = None,
    volume: str = "creds",
) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {
            "nodeName": node,
            "serviceAccountName": service_account,
            "containers": [{"name": "main", "image": "meshtool:latest"}],
            "volumes": [{"name": volume, "projected": {"sources": list(sources)}}],
        },
    }


def service_body(
    namespace: str,
    name: str,
    *,
    selector: Mapping[str, str] | None,
    type_: str = "ClusterIP",
    port: int = 443,
) -> JSON:
    spec: JSON = {"type": type_}
    if type_ == "ExternalName":
        spec["externalName"] = "example.com"
    else:
        spec["ports"] = [{"port": port, "targetPort": 8443}]
    if selector is not None:
        spec["selector"] = dict(selector)
    meta = {"name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


async def ensure(client: KubeClient, resource: resources.Resource, body: JSON) -> JSON:
    """Create `body`, or return the existing object of that name."""
    namespace = body["metadata"].get("namespace")
    try:
        return await client.create(resource, body, namespace=namespace)
    except errors.Conflict:
        return await client.get(resource, body["metadata"]["name"], namespace=namespace)


async def gather_limited(jobs: Iterable[Awaitable[T]], limit: int = 32) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def run(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    return list(await asyncio.gather(*(run(job) for job in jobs)))


async def create_nodes(client: KubeClient, names: Iterable[str]) -> dict[str, str]:
    """Node name -> UID."""
    created = await gather_limited(ensure(client, resources.NODES, node_body(n)) for n in names)
    return {n["metadata"]["name"]: n["metadata"]["uid"] for n in created}


async def create_namespace(client: KubeClient, name: str, service_accounts: Iterable[str]) -> None:
    await ensure(client, resources.NAMESPACES, namespace_body(name))
    for sa in service_accounts:
        await ensure(client, resources.SERVICE_ACCOUNTS, service_account_body(name, sa))


async def delete_quietly(
    client: KubeClient, resource: resources.Resource, name: str, **kw: Any
) -> None:
    with contextlib.suppress(errors.NotFound):
        await client.delete(resource, name, **kw)


async def create_as_node(
    client: KubeClient, resource: resources.Resource, body: JSON, *, attempts: int = 50
) -> JSON:
    """Create a PodCertificateRequest with a node's client, as its kubelet would.

    NodeRestriction checks the request against pods and nodes from its informers, so right after
    a pod is created it may not see it yet (403/404); like a kubelet, we retry briefly.
    """
    namespace = body["metadata"]["namespace"]
    for attempt in range(attempts):
        try:
            return await client.create(resource, body, namespace=namespace)
        except (errors.Forbidden, errors.NotFound):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.1)
    raise AssertionError("unreachable")
