"""Policy decisions become Denied with the documented reasons; nothing is ever marked Failed
(the start_controller fixture asserts meshtool_failed_total == 0 for every controller)."""

from __future__ import annotations

import pytest

from meshtool.api.types import KeyType
from meshtool.kube import resources
from meshtool.testing import fleet, pcrforms
from meshtool.testing.kubelet import ProjectionFailed

from .conftest import eventually, make_pod, signer_name

pytestmark = pytest.mark.all_versions


async def denial(sim, namespace: str, pod: str) -> tuple[str, str]:
    with pytest.raises(ProjectionFailed) as refused:
        await sim.wait_ready(namespace, pod, timeout=90)
    condition = refused.value.status.condition
    assert condition is not None and condition.type == "Denied"
    return condition.reason, condition.message


async def test_key_type_outside_the_allow_list_is_denied(
    kube, namespace, start_controller, start_kubelet
):
    await start_controller("--accepted-key-types", "ECDSAP256,ED25519", signers=("spiffe",))
    sim = await start_kubelet()
    source = fleet.pod_certificate_source(signer_name("spiffe"), key_type="RSA3072")
    await make_pod(kube, namespace, "rsa", node=sim.node_name, sources=[source])
    reason, message = await denial(sim, namespace, "rsa")
    assert reason == "UnsupportedKeyType"
    assert "RSA3072" in message and "ECDSAP256" in message and "ED25519" in message


async def test_unknown_user_annotation_is_denied(
    kube, namespace, start_controller, start_kubelet, control_plane
):
    if control_plane.version == "1.34":
        pytest.skip("userAnnotations arrived in 1.35")
    await start_controller(signers=("spiffe",))
    sim = await start_kubelet()
    source = fleet.pod_certificate_source(
        signer_name("spiffe"), user_annotations={"example.com/team": "blue"}
    )
    await make_pod(kube, namespace, "annotated", node=sim.node_name, sources=[source])
    reason, message = await denial(sim, namespace, "annotated")
    assert reason == "InvalidUnverifiedUserAnnotations"
    assert "example.com/team" in message


async def test_request_naming_the_wrong_pod_uid_is_denied(
    kube, namespace, start_controller, start_kubelet
):
    await start_controller("--identity-mismatch-grace", "2", signers=("spiffe",))
    sim = await start_kubelet()
    source = fleet.pod_certificate_source(signer_name("spiffe"))
    pod = await make_pod(kube, namespace, "real", node=sim.node_name, sources=[source])
    await sim.wait_ready(namespace, "real", timeout=90)
    sa = await kube.get(resources.SERVICE_ACCOUNTS, "app", namespace=namespace)
    node = await kube.get(resources.NODES, sim.node_name)
    target = pcrforms.PodTarget(
        namespace=namespace,
        pod_name="real",
        pod_uid="00000000-0000-0000-0000-000000000000",  # not the pod's UID
        service_account_name="app",
        service_account_uid=sa["metadata"]["uid"],
        node_name=sim.node_name,
        node_uid=node["metadata"]["uid"],
    )
    assert target.pod_uid != pod["metadata"]["uid"]
    version = sim.pcr_version or "v1"
    body = pcrforms.pcr_body(
        sim.key_form or pcrforms.default_form(version),
        target,
        version=version,
        signer_name=signer_name("spiffe"),
        key=pcrforms.generate_key(KeyType.ECDSAP256),
    )
    # Admin is not subject to NodeRestriction, so only our own check stands in the way.
    resource = resources.pod_certificate_requests(version)
    created = await kube.create(resource, body, namespace=namespace)
    name = created["metadata"]["name"]
    seen: dict[str, object] = {}

    async def denied() -> bool:
        obj = await kube.get(resource, name, namespace=namespace)
        conditions = (obj.get("status") or {}).get("conditions") or []
        seen.update(conditions[0] if conditions else {})
        return bool(conditions)

    await eventually(denied, timeout=60, what="the mismatched request to be answered")
    assert seen["type"] == "Denied" and seen["reason"] == "IdentityMismatch"
    assert "00000000-0000-0000-0000-000000000000" in str(seen["message"])
