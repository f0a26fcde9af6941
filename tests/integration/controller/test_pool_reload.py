"""CA pool files reload in place: a corrupt update keeps the old pool and turns /readyz red;
a good one turns it green and is published."""

from __future__ import annotations

import pytest

from meshtool.clock import SystemClock
from meshtool.pki import capool, pem
from meshtool.testing import fleet

from .conftest import eventually, make_pod, signer_name, write_pool
from .verify import credential, verify

pytestmark = pytest.mark.all_versions


def anchors_pem(pool_json: bytes) -> bytes:
    return pem.encode(capool.load(pool_json, clock=SystemClock()).trust_anchors()).encode()


async def test_corrupt_pool_keeps_the_old_one_and_fails_readiness_until_fixed(
    kube, namespace, start_controller, start_kubelet, pools
):
    controller = await start_controller(signers=("spiffe",))
    sim = await start_kubelet()
    good = anchors_pem(pools["spiffe"].read_bytes())
    pools["spiffe"].write_text('{"CAs": [{"ID": "2", "SigningKeyPKCS8": "not base64!"')

    async def red() -> bool:
        code, body = controller.get("/readyz")
        return code == 503 and "row-major.net/spiffe" in body

    await eventually(red, timeout=30, what="/readyz to report the corrupt pool")
    assert controller.metric_sum("meshtool_ca_pool_load_errors_total") >= 1

    # Still issuing with the previous pool.
    source = fleet.pod_certificate_source(signer_name("spiffe"), path="svid.pem")
    source_ca = {
        "clusterTrustBundle": {
            "signerName": signer_name("spiffe"),
            "labelSelector": {},
            "path": "ca.pem",
        }
    }
    await make_pod(kube, namespace, "during", node=sim.node_name, sources=[source, source_ca])
    await sim.wait_ready(namespace, "during", timeout=60)
    volume = sim.volume_dir(namespace, "during", "creds")
    cred = credential(volume / "svid.pem")
    verify(cred.chain, good)  # signed by the old (still loaded) CA

    write_pool(pools["spiffe"], "spiffe", ca_id="2")

    async def green() -> bool:
        return controller.get("/readyz")[0] == 200

    await eventually(green, timeout=30, what="/readyz to turn green after the fix")
    # The kubelet rewrites the projected bundle once the publisher has republished it.
    new_root = anchors_pem(pools["spiffe"].read_bytes())
    await sim.refresh_now(namespace, "during", timeout=30)
    verify(credential(volume / "svid.pem").chain, new_root)

    async def republished() -> bool:
        return pem.certificates((volume / "ca.pem").read_bytes()) == pem.certificates(new_root)

    await eventually(republished, timeout=30, what="the projected bundle to carry the new root")
