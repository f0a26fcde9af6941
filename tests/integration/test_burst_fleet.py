"""The benchmark's fleet against a real apiserver: `Fleet.remove` clears one burst only.

The benchmark deletes each run's pods and requests before the next run starts, so that every
run meets the apiserver with the same live objects; a removal that missed objects, or took
another burst's, would skew the comparison without failing anything else.
"""

from __future__ import annotations

import secrets

from meshtool.kube import resources
from meshtool.kube.client import KubeClient
from meshtool.testing import burst, pcrforms
from meshtool.testing.controlplane import ControlPlane

GONE, KEPT = "example.com/gone", "example.com/kept"


async def test_remove_deletes_one_bursts_pods_and_requests_and_nothing_else(
    control_plane: ControlPlane, kube: KubeClient, pcr_version: str, pcr_form: pcrforms.KeyForm
) -> None:
    namespace = f"fleet-{secrets.token_hex(3)}"
    fl = burst.Fleet(control_plane, kube, 2, namespace=namespace, prefix=f"{namespace}-node")
    await fl.prepare()
    try:
        resource = resources.pod_certificate_requests(pcr_version)
        gone = burst.bodies_for(await fl.pods("gone", 3, GONE), GONE, pcr_version, pcr_form)
        kept = burst.bodies_for(await fl.pods("kept", 2, KEPT), KEPT, pcr_version, pcr_form)
        await burst.create_all(fl, resource, gone + kept, 8)

        await fl.remove("gone", GONE, resource)

        pods = await kube.list(resources.PODS, namespace=namespace)
        assert sorted(p["metadata"]["name"] for p in pods.items) == ["kept-0", "kept-1"]
        requests = await kube.list(resource, namespace=namespace)
        assert sorted(r["spec"]["signerName"] for r in requests.items) == [KEPT, KEPT]
    finally:
        await fl.aclose()
