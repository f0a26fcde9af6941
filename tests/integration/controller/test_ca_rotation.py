"""CA rotation on a real apiserver, with pods being issued throughout.

Manual: `meshtool ca prepare` (an intermediate of an offline root), wait for the bundles,
`activate`, `remove` (refused, then forced); after every step a new pod's chain verifies
against the bundle the kubelet simulator projected, and the leaf's issuer is the CA we expect.
Automatic: two replicas with a CA already half way through its life; the Secret's watch history
shows prepare, publish, activate (which retires the old CA) and remove, each exactly once,
written by one replica, even though the acting replica is killed right after preparing.
Concurrent `meshtool ca prepare` runs racing the controller's own writes lose no CA.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from meshtool.api import trustbundle
from meshtool.clock import FakeClock
from meshtool.kube import resources
from meshtool.pki import capool
from meshtool.testing import fleet

from . import rotationkit
from .conftest import ctb_source, eventually, make_pod, signer_name
from .verify import credential, verify

pytestmark = pytest.mark.all_versions

SIGNER = signer_name("spiffe")


def half_used_pool(lifetime: dt.timedelta = dt.timedelta(hours=6)) -> capool.CAPool:
    """CA "1", created half its lifetime ago: rotation is due at once."""
    start = dt.datetime.now(dt.UTC) - lifetime / 2
    ca = capool.generate_ca(
        ca_id="1", name=SIGNER, key_type="ecdsa-p256", clock=FakeClock(start), validity=lifetime
    )
    return capool.CAPool((ca,))


@pytest.fixture
async def pool_secret(kube, controller_kubeconfig, pools):
    secret = rotationkit.PoolSecret(kube, pools["spiffe"])
    yield secret
    await secret.close()


class Issuer:
    """Creates pods one at a time and checks each chain against its projected bundle."""

    def __init__(self, kube: Any, namespace: str, sim: Any) -> None:
        self.kube, self.namespace, self.sim, self.count = kube, namespace, sim, 0

    async def issue(self, pool: capool.CAPool, expect: str) -> tuple[x509.Certificate, ...]:
        self.count += 1
        name = f"pod-{self.count}"
        sources = [
            fleet.pod_certificate_source(SIGNER, path="svid.pem"),
            ctb_source("spiffe", "ca.pem"),
        ]
        await make_pod(self.kube, self.namespace, name, node=self.sim.node_name, sources=sources)
        await self.sim.wait_ready(self.namespace, name, timeout=60)
        volume = self.sim.volume_dir(self.namespace, name, "creds")
        chain = credential(volume / "svid.pem").chain
        verify(chain, (volume / "ca.pem").read_bytes())
        assert chain[0].issuer == pool.get(expect).issuer_cert.subject, f"{name} not by {expect}"
        return chain


async def bundle_carries(kube: Any, ctb_version: str, ca: capool.CA) -> bool:
    listed = await kube.list(resources.cluster_trust_bundles(ctb_version))
    der = ca.root.public_bytes(Encoding.DER)
    return any(
        der in trustbundle.certificates_der(trustbundle.parse(obj).pem)
        for obj in listed.items
        if obj["spec"].get("signerName") == SIGNER
    )


async def test_manual_rotation_while_pods_are_issued(
    kube, namespace, control_plane, ctb_version, start_controller, start_kubelet, pool_secret,
    tmp_path,
):  # fmt: skip
    admin = control_plane.kubeconfig
    await pool_secret.create(half_used_pool(dt.timedelta(days=10)))
    controller = await start_controller(
        *rotationkit.SECRET_FLAG, "--disable-ca-rotation", signers=("spiffe",)
    )
    sim = await start_kubelet()
    pods = Issuer(kube, namespace, sim)
    await pods.issue(await pool_secret.current(), "1")

    # The successor is an intermediate of a root kept offline (a file only the operator has).
    offline = tmp_path / "offline-root.json"
    root = capool.generate_ca(
        ca_id="root", name="offline", key_type="ecdsa-p256", clock=FakeClock(),
        validity=dt.timedelta(days=3650),
    )  # fmt: skip
    offline.write_bytes(capool.dump(capool.CAPool((root,))))
    done = await rotationkit.ca(
        admin, "prepare", "--validity", "20d", "--parent-pool", str(offline)
    )
    assert done.returncode == 0, done.stderr
    pool = await pool_secret.current()
    new = pool.get("2")
    assert new.root == root.root and len(new.intermediates) == 1  # bundles carry the root

    async def published() -> bool:
        return await bundle_carries(kube, ctb_version, new)

    await eventually(published, timeout=30, what="the bundle to carry the prepared CA")
    await pods.issue(pool, "1")  # prepared: trusted, not signing

    status = await rotationkit.ca(admin, "status")
    assert (
        'CA "2": prepared' in status.stdout
        and "row-major.net:spiffe:primary-bundle" in status.stdout
    )

    done = await rotationkit.ca(admin, "activate", "2")
    assert done.returncode == 0, done.stderr

    async def loaded() -> bool:
        return controller.metric_sum("meshtool_ca_role", ca_id="2", role="active") == 1

    await eventually(loaded, timeout=30, what="the controller to load the activated CA")
    pool = await pool_secret.current()
    chain = await pods.issue(pool, "2")
    assert len(chain) == 2 and chain[1] == new.intermediates[0]  # chains carry the intermediate

    refused = await rotationkit.ca(admin, "remove", "1")
    assert refused.returncode == 1 and "may be valid until" in refused.stderr
    done = await rotationkit.ca(admin, "remove", "1", "--force")
    assert done.returncode == 0, done.stderr
    old = pool.get("1")

    async def dropped() -> bool:
        return not await bundle_carries(kube, ctb_version, old)

    await eventually(dropped, timeout=30, what="the bundle to drop the removed CA")
    await pods.issue(await pool_secret.current(), "2")

    assert [s for s in pool_secret.history] == [
        (("1", "active", False),),
        (("1", "active", False), ("2", "prepared", False)),
        (("2", "active", False), ("1", "retired", False)),
        (("2", "active", False),),
    ]
    print(f"manual rotation: {pods.count} pods issued and verified across 4 pool states")


async def test_automatic_rotation_with_two_replicas_and_a_kill(
    kube, namespace, control_plane, ctb_version, start_controller, start_kubelet, pool_secret
):
    await pool_secret.create(half_used_pool())
    app = f"rot-{secrets.token_hex(3)}"
    names = ["rot-a", "rot-b"]
    extra = [
        *rotationkit.SECRET_FLAG,
        # 15 s: long enough that the replica killed right after it prepared cannot also
        # activate on a loaded machine (the survivor must), short enough for the test.
        "--ca-propagation-delay", "15",
        "--ca-rotation-interval", "0.5",
        "--ca-removal-delay", "8",
        "--sharding-pod-namespace", rotationkit.NAMESPACE,
        "--sharding-application-name", app,
    ]  # fmt: skip
    procs = {
        name: await start_controller(
            *extra, "--sharding-pod-name", name, signers=("spiffe",), name=name
        )
        for name in names
    }
    sim = await start_kubelet()
    pods = Issuer(kube, namespace, sim)
    await pods.issue(await pool_secret.current(), "1")

    async def prepared() -> bool:
        return any(len(state) == 2 for state in pool_secret.history)

    await eventually(prepared, timeout=30, what="a successor to be prepared")
    actor = next(n for n in names if "CA rotation: Prepare(" in procs[n].log())
    procs[actor].kill()
    survivor = next(n for n in names if n != actor)

    async def finished() -> bool:
        return pool_secret.history[-1] == (("2", "active", True),)

    await eventually(finished, timeout=120, what="the survivor to finish the rotation")
    await pods.issue(await pool_secret.current(), "2")

    assert pool_secret.history == [
        (("1", "active", False),),
        (("1", "active", False), ("2", "prepared", False)),
        (("1", "active", False), ("2", "prepared", True)),
        (("2", "active", True), ("1", "retired", False)),
        (("2", "active", True),),
    ]
    steps = {
        name: [s for s in ("Prepare", "MarkPublished", "Activate", "Remove")
               if f"CA rotation: {s}(" in procs[name].log()]
        for name in names
    }  # fmt: skip
    # Each step written once, by one replica: the killed one's steps, then the survivor's.
    assert steps[actor] + steps[survivor] == ["Prepare", "MarkPublished", "Activate", "Remove"]
    assert steps[actor][0] == "Prepare" and "Activate" in steps[survivor]
    events = await kube.list(resources.EVENTS, namespace=rotationkit.NAMESPACE)
    warned = [
        e for e in events.items
        if e.get("reason") == "CAExpiringWithoutSuccessor" and e["regarding"]["name"] == actor
    ]  # fmt: skip
    assert warned and warned[0]["type"] == "Warning", "no Warning Event on the owner's Pod"
    print(f"automatic rotation: steps by replica {steps}; {len(warned)} expiry Warning Event(s)")


async def test_concurrent_ca_commands_and_the_controller_lose_no_ca(
    kube, namespace, control_plane, start_controller, pool_secret
):
    await pool_secret.create(half_used_pool(dt.timedelta(days=10)))
    await start_controller(
        *rotationkit.SECRET_FLAG, "--ca-propagation-delay", "1", "--ca-rotation-interval", "0.2",
        signers=("spiffe",),
    )  # fmt: skip
    ids = [f"cli-{i}" for i in range(6)]
    results = await asyncio.gather(
        *(
            rotationkit.ca(control_plane.kubeconfig, "prepare", "--id", i, "--validity", "30d")
            for i in ids
        )
    )
    for result in results:
        assert result.returncode == 0, result.stderr

    async def activated() -> bool:
        return (await pool_secret.current()).cas[0].id in ids

    await eventually(activated, timeout=60, what="the controller to activate a prepared CA")
    pool = await pool_secret.current()
    assert set(ids) <= {ca.id for ca in pool.cas}, [ca.id for ca in pool.cas]
    writes = len(pool_secret.history) - 1
    print(f"race: {len(ids)} concurrent prepares + controller writes = {writes} Secret updates")
    assert writes >= len(ids)
