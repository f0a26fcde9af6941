"""The publisher keeps our signer-linked ClusterTrustBundles exactly as the CA pools say:
names, labels and contents; hand edits and deletions are repaired; a disabled signer's bundle
is deleted."""

from __future__ import annotations

import asyncio

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from meshtool.api import trustbundle
from meshtool.clock import SystemClock
from meshtool.kube import errors, resources
from meshtool.pki import capool

from .conftest import eventually, signer_name

pytestmark = pytest.mark.all_versions

LABELS = {
    "service-dns": {"service-dns.row-major.net/canarying": "live"},
    "spiffe": {
        "spiffe.row-major.net/canarying": "live",
        "spiffe.row-major.net/trust-domain": "cluster.local",
        "k8s.spiffe.io/canarying": "live",
        "k8s.spiffe.io/workload-trust-domain": "cluster.local",
        "k8s.spiffe.io/peer-trust-domain": "cluster.local",
    },
    "pod-identity": {"podidentity.row-major.net/canarying": "live"},
}


def bundle_name(short: str) -> str:
    return f"row-major.net:{short}:primary-bundle"


def roots_der(path) -> set[bytes]:
    pool = capool.load(path.read_bytes(), clock=SystemClock())
    return {cert.public_bytes(Encoding.DER) for cert in pool.trust_anchors()}


async def fetch(kube, resource, name):
    try:
        return trustbundle.parse(await kube.get(resource, name))
    except errors.NotFound:
        return None


async def test_bundles_have_exact_names_labels_and_contents_and_are_repaired(
    kube, ctb_version, start_controller, pools
):
    await start_controller()
    resource = resources.cluster_trust_bundles(ctb_version)

    async def all_published() -> bool:
        for short in LABELS:
            found = await fetch(kube, resource, bundle_name(short))
            if found is None or set(trustbundle.certificates_der(found.pem)) != roots_der(
                pools[short]
            ):
                return False
        return True

    await eventually(all_published, timeout=60, what="three published bundles")
    for short, labels in LABELS.items():
        found = await fetch(kube, resource, bundle_name(short))
        assert found is not None
        assert found.signer_name == signer_name(short)
        assert dict(found.labels) == labels

    # A hand edit (content and labels) is reverted.
    raw = await kube.get(resource, bundle_name("spiffe"))
    other = capool.new_pool(ca_id="x", name="intruder", clock=SystemClock())
    raw["spec"]["trustBundle"] = trustbundle.trust_bundle_pem(
        c.public_bytes(Encoding.DER) for c in other.trust_anchors()
    )
    raw["metadata"]["labels"] = {"spiffe.row-major.net/canarying": "retired"}
    await kube.replace(resource, bundle_name("spiffe"), raw)
    await eventually(all_published, timeout=30, what="the edited bundle to be repaired")
    found = await fetch(kube, resource, bundle_name("spiffe"))
    assert found is not None and dict(found.labels) == LABELS["spiffe"]

    # A deleted bundle comes back.
    await kube.delete(resource, bundle_name("service-dns"))
    await eventually(all_published, timeout=30, what="the deleted bundle to be recreated")


async def test_bundle_of_a_disabled_signer_is_deleted(kube, ctb_version, start_controller):
    first = await start_controller()
    resource = resources.cluster_trust_bundles(ctb_version)

    async def published(short: str) -> bool:
        return await fetch(kube, resource, bundle_name(short)) is not None

    await eventually(lambda: published("pod-identity"), timeout=60, what="pod-identity bundle")
    first.stop()
    await start_controller(signers=("service-dns", "spiffe"), name="without-pod-identity")

    async def gone() -> bool:
        return not await published("pod-identity")

    await eventually(gone, timeout=60, what="the disabled signer's bundle to be deleted")
    assert await published("service-dns") and await published("spiffe")


async def test_federated_bundles_of_our_signer_are_left_alone(kube, ctb_version, start_controller):
    """A peer's bundle linked to our spiffe signer is the federation controller's, not ours:
    the publisher neither deletes nor edits it (here no federation controller runs at all)."""
    resource = resources.cluster_trust_bundles(ctb_version)
    peer = capool.new_pool(ca_id="p", name="peer", clock=SystemClock())
    name = "row-major.net:spiffe:federated.left-alone.example"
    pem = trustbundle.trust_bundle_pem(c.public_bytes(Encoding.DER) for c in peer.trust_anchors())
    body = trustbundle.ctb_body(
        version=ctb_version, name=name, signer_name=signer_name("spiffe"), labels={}, pem=pem
    )
    await kube.create(resource, dict(body))
    try:
        await start_controller()
        await eventually(
            lambda: _published(kube, resource, bundle_name("spiffe")), timeout=60, what="spiffe"
        )
        # A CTB change triggers a full pass; edit our own bundle's labels to force one (the
        # publisher may be writing it at the same moment: read and write again on a conflict).
        await _strip_labels(kube, resource, bundle_name("spiffe"))

        async def repaired() -> bool:
            found = await fetch(kube, resource, bundle_name("spiffe"))
            return found is not None and dict(found.labels) == LABELS["spiffe"]

        await eventually(repaired, timeout=30, what="a publisher pass")
        kept = await fetch(kube, resource, name)
        assert kept is not None and kept.pem == pem
    finally:
        await kube.delete(resource, name)


async def _published(kube, resource, name: str) -> bool:
    return await fetch(kube, resource, name) is not None


async def _strip_labels(kube, resource, name: str) -> None:
    for _ in range(10):
        raw = await kube.get(resource, name)
        raw["metadata"]["labels"] = {}
        try:
            await kube.replace(resource, name, raw)
            return
        except errors.Conflict:
            await asyncio.sleep(0.2)
    raise AssertionError(f"{name}: ten conflicts in a row while editing its labels")
