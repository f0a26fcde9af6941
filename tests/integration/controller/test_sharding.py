"""Three replicas share the work by rendezvous hashing over Leases: 500 requests are each
answered exactly once, and a killed replica's share is picked up within about two lease
durations."""

from __future__ import annotations

import secrets
import time

import pytest

from meshtool.api.types import KeyType
from meshtool.kube import resources
from meshtool.testing import fleet, pcrforms

from .conftest import eventually, signer_name

pytestmark = pytest.mark.all_versions

SIGNER = signer_name("spiffe")
NODES = [f"shard-node-{i}" for i in range(5)]
LEASE_SECONDS = 15


async def node_clients(control_plane):
    return {
        node: control_plane.client(control_plane.user(f"system:node:{node}", ["system:nodes"]))
        for node in NODES
    }


async def create_requests(kube, clients, namespace, prefix, count, version, form):
    node_uids = await fleet.create_nodes(kube, NODES)
    sa = await fleet.ensure(
        kube, resources.SERVICE_ACCOUNTS, fleet.service_account_body(namespace, "app")
    )
    pods = await fleet.gather_limited(
        fleet.ensure(
            kube,
            resources.PODS,
            fleet.pod_body(
                namespace,
                f"{prefix}-{i}",
                node=NODES[i % len(NODES)],
                service_account="app",
                sources=[fleet.pod_certificate_source(SIGNER)],
            ),
        )
        for i in range(count)
    )
    resource = resources.pod_certificate_requests(version)

    async def one(pod):
        target = pcrforms.PodTarget(
            namespace,
            pod["metadata"]["name"],
            pod["metadata"]["uid"],
            "app",
            sa["metadata"]["uid"],
            pod["spec"]["nodeName"],
            node_uids[pod["spec"]["nodeName"]],
        )
        body = pcrforms.pcr_body(
            form,
            target,
            version=version,
            signer_name=SIGNER,
            key=pcrforms.generate_key(KeyType.ECDSAP256),
        )
        return await fleet.create_as_node(clients[target.node_name], resource, body)

    return await fleet.gather_limited((one(p) for p in pods), limit=32)


async def issued_count(kube, namespace, version) -> int:
    listed = await kube.list(
        resources.pod_certificate_requests(version),
        namespace=namespace,
        field_selector=f"spec.signerName={SIGNER}",
    )
    done = 0
    for obj in listed.items:
        conditions = (obj.get("status") or {}).get("conditions") or []
        assert all(c["type"] == "Issued" for c in conditions), conditions
        done += bool(conditions)
    return done


async def test_three_replicas_issue_each_request_once_and_survive_a_kill(
    kube, namespace, control_plane, start_controller, pcr_version, pcr_form
):
    app = f"shard-{secrets.token_hex(3)}"
    replicas = []
    for i in range(3):
        replicas.append(
            await start_controller(
                "--sharding-pod-namespace",
                "mesh-controller",
                "--sharding-pod-name",
                f"{app}-{i}",
                "--sharding-application-name",
                app,
                "--workers",
                "8",
                signers=("spiffe",),
                name=f"replica-{i}",
            )
        )

    async def all_see_three() -> bool:
        return all(r.metric_sum("meshtool_live_replicas") == 3 for r in replicas)

    await eventually(all_see_three, timeout=60, what="every replica to see three live replicas")
    version = pcr_version
    clients = await node_clients(control_plane)
    try:
        await create_requests(kube, clients, namespace, "batch", 500, version, pcr_form)

        async def all_issued() -> bool:
            return await issued_count(kube, namespace, version) == 500

        await eventually(all_issued, timeout=180, what="500 issued requests", every=1)
        writes = [r.metric_sum("meshtool_status_writes_total", result="written") for r in replicas]
        assert sum(writes) == 500, writes  # exactly one successful status write per request
        assert all(w > 0 for w in writes), f"some replica did no work: {writes}"

        # Kill one replica, then create a second batch: its share waits for its Lease to expire.
        replicas[0].kill()
        killed_at = time.monotonic()
        await create_requests(kube, clients, namespace, "late", 150, version, pcr_form)

        async def all_late_issued() -> bool:
            return await issued_count(kube, namespace, version) == 650

        await eventually(all_late_issued, timeout=4 * LEASE_SECONDS, what="the killed share")
        took = time.monotonic() - killed_at
        print(f"sharding: writes per replica {writes}; killed share issued {took:.1f}s after kill")
        assert took < 2 * LEASE_SECONDS + 10, f"failover took {took:.1f}s"
        survivors = sum(
            r.metric_sum("meshtool_status_writes_total", result="written") for r in replicas[1:]
        )
        assert survivors == sum(writes[1:]) + 150  # still exactly once, across the failover
    finally:
        for client in clients.values():
            await client.aclose()
