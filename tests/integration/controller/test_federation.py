"""Federation end to end: a FederatedTrustDomain, the controller, and a peer bundle endpoint we
control (`peerserver`). A good fetch publishes the peer's own CTB with the right labels and
status; a newer bundle replaces it; deleting the object deletes it. Every kind of bad input
changes nothing published, says so on the status and in the metric, and is retried on time."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.serialization import Encoding

from meshtool.api import trustbundle, wire
from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.kube.resources import Resource

from . import peerserver
from .conftest import eventually
from .peerserver import PeerServer, bundle_json, response

pytestmark = pytest.mark.all_versions

FTD = Resource("meshtool.row-major.net", "v1alpha1", "federatedtrustdomains", False)
HINT = 3
FAST = ["--federation", "--federation-min-refresh", "1", "--federation-fetch-timeout", "2"]
SIGNER = "row-major.net/spiffe"
REPO = Path(__file__).resolve().parents[3]


@pytest_asyncio.fixture
async def peer(tmp_path: Path) -> AsyncIterator[PeerServer]:
    server = PeerServer(trust_domain=f"peer-{secrets.token_hex(3)}.example", workdir=tmp_path)
    await server.start()
    server.answer = good(server, sequence=1)
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def federate(kube: KubeClient, ctb_version: str) -> AsyncIterator[Callable[..., Any]]:
    made: list[tuple[str, str]] = []

    async def create(peer: PeerServer, *, web: bool = False) -> str:
        name = peer.trust_domain.replace(".", "-")
        profile: dict[str, str] = {"type": "https_web"}
        spec: dict[str, Any] = {"trustDomain": peer.trust_domain, "bundleEndpointURL": peer.url}
        if not web:
            profile = {"type": "https_spiffe", "endpointSPIFFEID": peer.endpoint_id}
            spec["trustDomainBundle"] = bundle_json(peer.ca.cert, sequence=0, hint=None).decode()
        spec["bundleEndpointProfile"] = profile
        body = {"apiVersion": FTD.api_version, "kind": "FederatedTrustDomain"}
        await kube.create(FTD, body | {"metadata": {"name": name}, "spec": spec})
        made.append((name, peer.trust_domain))
        return name

    yield create
    # The controller is stopped by now, so no Sweeper pass deletes the peers' CTBs: do it here,
    # or a later test's projection of every CTB of the spiffe signer would carry a peer's root.
    ctb = resources.cluster_trust_bundles(ctb_version)
    for name, trust_domain in made:
        with contextlib.suppress(errors.NotFound):
            await kube.delete(FTD, name)
        with contextlib.suppress(errors.NotFound):
            await kube.delete(ctb, f"row-major.net:spiffe:federated.{trust_domain}")


def good(peer: PeerServer, *, sequence: int, extra: tuple[Any, ...] = ()) -> peerserver.Answer:
    body = bundle_json(peer.ca.cert, *extra, sequence=sequence, hint=HINT)
    return lambda path: response(body)


def ctb_name(peer: PeerServer) -> str:
    return f"row-major.net:spiffe:federated.{peer.trust_domain}"


async def published(
    kube: KubeClient, version: str, peer: PeerServer
) -> trustbundle.TrustBundle | None:
    try:
        return trustbundle.parse(
            await kube.get(resources.cluster_trust_bundles(version), ctb_name(peer))
        )
    except errors.NotFound:
        return None


async def status(kube: KubeClient, name: str) -> dict[str, Any]:
    found = (await kube.get(FTD, name)).get("status") or {}
    assert isinstance(found, dict)
    return found


def ders(bundle: trustbundle.TrustBundle) -> set[bytes]:
    return set(trustbundle.certificates_der(bundle.pem))


def der(cert: Any) -> bytes:
    return bytes(cert.public_bytes(Encoding.DER))


async def wait_published(kube, version, peer, *, sequence: int) -> trustbundle.TrustBundle:
    async def done() -> bool:
        found = await published(kube, version, peer)
        return found is not None and found.annotations.get(
            "spiffe.row-major.net/bundle-sequence"
        ) == str(sequence)

    await eventually(done, timeout=60, what=f"CTB of {peer.trust_domain} at sequence {sequence}")
    found = await published(kube, version, peer)
    assert found is not None
    return found


def ready(found: dict[str, Any]) -> dict[str, Any]:
    (condition,) = [c for c in found.get("conditions", []) if c["type"] == "Ready"]
    return dict(condition)


async def test_a_good_fetch_publishes_then_updates_then_de_federation_deletes(
    kube, ctb_version, start_controller, peer, federate
):
    name = await federate(peer)
    proc = await start_controller(*FAST)
    bundle = await wait_published(kube, ctb_version, peer, sequence=1)
    assert bundle.signer_name == SIGNER
    assert ders(bundle) == {der(peer.ca.cert)}
    assert bundle.labels == {
        "spiffe.row-major.net/trust-domain": peer.trust_domain,
        "spiffe.row-major.net/canarying": "live",
        "k8s.spiffe.io/canarying": "live",
        "k8s.spiffe.io/workload-trust-domain": "cluster.local",
        "k8s.spiffe.io/peer-trust-domain": peer.trust_domain,
    }

    async def status_at(sequence: int) -> bool:
        return (await status(kube, name)).get("sequence") == sequence

    await eventually(lambda: status_at(1), timeout=30, what="the status at sequence 1")
    found = await status(kube, name)
    assert found["sequence"] == 1 and found["refreshHint"] == HINT
    assert ready(found)["status"] == "True" and "lastError" not in found
    fetched = wire.parse_time(found["lastSuccessfulFetchTime"])
    assert wire.parse_time(found["nextFetchTime"]) - fetched == dt.timedelta(seconds=HINT)
    assert proc.metric_sum("meshtool_federation_fetches_total", result="success") >= 1
    own = trustbundle.parse(
        await kube.get(
            resources.cluster_trust_bundles(ctb_version), "row-major.net:spiffe:primary-bundle"
        )
    )
    assert own.labels["k8s.spiffe.io/peer-trust-domain"] == "cluster.local"
    assert own.labels["k8s.spiffe.io/workload-trust-domain"] == "cluster.local"

    successor = peerserver.authority(f"{peer.trust_domain} root 2")
    peer.answer = good(peer, sequence=2, extra=(successor.cert,))
    bundle = await wait_published(kube, ctb_version, peer, sequence=2)
    assert ders(bundle) == {der(peer.ca.cert), der(successor.cert)}
    await eventually(lambda: status_at(2), timeout=30, what="the status at sequence 2")
    assert (
        proc.metric_sum("meshtool_federation_published_sequence", trust_domain=peer.trust_domain)
        == 2
    )

    await kube.delete(FTD, name)

    async def gone() -> bool:
        return await published(kube, ctb_version, peer) is None

    await eventually(gone, timeout=30, what="the federated CTB deleted after de-federation")
    still = trustbundle.parse(
        await kube.get(
            resources.cluster_trust_bundles(ctb_version), "row-major.net:spiffe:primary-bundle"
        )
    )
    assert still.name == own.name


async def test_https_web_is_verified_with_the_ca_file_and_the_host(
    kube, ctb_version, start_controller, peer, federate
):
    peer.tls = "web"
    await federate(peer, web=True)
    await start_controller(*FAST, "--federation-ca-file", str(peer.web_ca_file))
    bundle = await wait_published(kube, ctb_version, peer, sequence=1)
    assert ders(bundle) == {der(peer.ca.cert)}


def not_json(peer: PeerServer) -> None:
    peer.answer = lambda path: response(b"<html>not a bundle</html>")


def wrong_use(peer: PeerServer) -> None:
    doc = json.loads(bundle_json(peer.ca.cert, sequence=5, hint=HINT))
    doc["keys"][0]["use"] = "x509-foo"
    peer.answer = lambda path: response(json.dumps(doc).encode())


def non_ca(peer: PeerServer) -> None:
    leaf = peerserver.authority("leaf", ca=False)
    peer.answer = lambda path: response(bundle_json(leaf.cert, sequence=5, hint=HINT))


def expired(peer: PeerServer) -> None:
    old = peerserver.authority("old root", expired=True)
    peer.answer = lambda path: response(bundle_json(old.cert, sequence=5, hint=HINT))


def huge(peer: PeerServer) -> None:
    peer.answer = peerserver.huge


def slow(peer: PeerServer) -> None:
    peer.slow = True


def redirect_loop(peer: PeerServer) -> None:
    peer.answer = peerserver.redirect_loop


def wrong_id(peer: PeerServer) -> None:
    peer.tls = "wrong-id"


def untrusted(peer: PeerServer) -> None:
    peer.tls = "untrusted"


BAD = [
    (not_json, "invalid_bundle", "not UTF-8 JSON"),
    (wrong_use, "invalid_bundle", "use 'x509-foo'"),
    (non_ca, "invalid_bundle", "not a CA"),
    (expired, "invalid_bundle", "expired"),
    (huge, "too_large", "over 1048576 bytes"),
    (slow, "timeout", "within 2s"),
    (redirect_loop, "redirect", "redirect loop"),
    (wrong_id, "tls", "not the expected"),
    (untrusted, "tls", "CERTIFICATE_VERIFY_FAILED"),
]


@pytest.mark.parametrize(("spoil", "reason", "says"), BAD, ids=[b[0].__name__ for b in BAD])
async def test_bad_input_changes_nothing_published_and_is_retried_on_time(
    kube, ctb_version, start_controller, peer, federate, spoil, reason, says
):
    name = await federate(peer)
    proc = await start_controller(*FAST)
    before = await wait_published(kube, ctb_version, peer, sequence=1)
    td = peer.trust_domain
    spoil(peer)

    def failures() -> float:
        return proc.metric_sum("meshtool_federation_fetches_total", trust_domain=td, result=reason)

    async def failed(times: int) -> bool:
        return failures() >= times

    async def reported() -> bool:
        return "lastError" in await status(kube, name)

    await eventually(lambda: failed(1), timeout=30, what=f"a {reason} failure")
    # The metric counts before the status write: wait for the status too.
    await eventually(reported, timeout=30, what="the failure on the status")
    found = await status(kube, name)
    assert says in found["lastError"], found
    assert ready(found)["status"] == "False" and ready(found)["reason"] == "FetchFailed"
    assert "published bundle is kept" in ready(found)["message"]
    at = wire.parse_time(found["lastErrorTime"])
    assert (
        dt.timedelta(0) < wire.parse_time(found["nextFetchTime"]) - at <= dt.timedelta(seconds=HINT)
    )
    await eventually(lambda: failed(2), timeout=30, what=f"a second {reason} failure")
    # Every fetch is a new connection: the good one and both failures reached the endpoint.
    assert peer.handshakes >= 3
    after = await published(kube, ctb_version, peer)
    assert after is not None and after.resource_version == before.resource_version
    assert ders(after) == {der(peer.ca.cert)}
    assert (await status(kube, name))["sequence"] == 1
    event_reasons = await warning_reasons(kube, name)
    assert "BundleFetchFailed" in event_reasons


async def warning_reasons(kube: KubeClient, name: str) -> set[str]:
    listed = await kube.list(resources.EVENTS, namespace="default")
    return {
        str(e.get("reason"))
        for e in listed.items
        if (e.get("regarding") or {}).get("name") == name and e.get("type") == "Warning"
    }


async def test_after_a_restart_the_published_bundle_authenticates_the_rotated_endpoint(
    kube, ctb_version, start_controller, peer, federate
):
    """https_spiffe trusts the peer's *current* bundle: after the peer moves to a new CA, the
    bootstrap bundle (old CA only) no longer verifies the endpoint, but the published CTB does,
    also for a freshly started controller, which reads it back from the CTB."""
    name = await federate(peer)
    first = await start_controller(*FAST)
    await wait_published(kube, ctb_version, peer, sequence=1)
    successor = peerserver.authority(f"{peer.trust_domain} root 2")
    body = bundle_json(successor.cert, sequence=2, hint=HINT)
    peer.answer = lambda path: response(body)
    bundle = await wait_published(kube, ctb_version, peer, sequence=2)
    assert ders(bundle) == {der(successor.cert)}
    first.stop()
    peer.present(successor)
    peer.answer = lambda path: response(bundle_json(successor.cert, sequence=3, hint=HINT))
    second = await start_controller(*FAST, name="restarted")
    bundle = await wait_published(kube, ctb_version, peer, sequence=3)
    assert ders(bundle) == {der(successor.cert)}
    assert second.metric_sum("meshtool_federation_fetches_total", result="tls") == 0
    # A lower sequence than the published one is refused and changes nothing.
    peer.answer = lambda path: response(bundle_json(successor.cert, sequence=2, hint=HINT))

    async def refused() -> bool:
        return "lower than the published 3" in (await status(kube, name)).get("lastError", "")

    await eventually(refused, timeout=30, what="the stale bundle refused")
    assert second.metric_sum("meshtool_federation_fetches_total", result="stale_sequence") > 0
    assert ders(await wait_published(kube, ctb_version, peer, sequence=3)) == {der(successor.cert)}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"trustDomain": "Upper.example"}, "spec.trustDomain"),
        ({"trustDomain": "a" * 64}, "spec.trustDomain"),
        ({"bundleEndpointURL": "http://peer.example/"}, "https"),
        ({"bundleEndpointProfile": {"type": "https_spiffe"}}, "endpointSPIFFEID"),
        (
            {"bundleEndpointProfile": {"type": "https_web", "endpointSPIFFEID": "spiffe://p/x"}},
            "endpointSPIFFEID",
        ),
        (
            {"bundleEndpointProfile": {"type": "https_spiffe", "endpointSPIFFEID": "http://p/x"}},
            "endpointSPIFFEID",
        ),
        ({"bundleEndpointProfile": {"type": "https_other"}}, "type"),
    ],
)
async def test_the_crd_refuses_bad_specs_with_a_clear_message(kube, kubectl, change, says):
    kubectl("apply", "-f", str(REPO / "controller-manifests" / "federatedtrustdomain-crd.yaml"))
    spec = {
        "trustDomain": "peer.example",
        "bundleEndpointURL": "https://peer.example/",
        "bundleEndpointProfile": {"type": "https_web"},
    } | change
    body = {"apiVersion": FTD.api_version, "kind": "FederatedTrustDomain"}
    body |= {"metadata": {"name": f"bad-{secrets.token_hex(3)}"}, "spec": spec}

    async def established() -> bool:
        try:
            await kube.list(FTD)
        except errors.NotFound:
            return False
        return True

    await eventually(established, timeout=30, what="the CRD served")
    with pytest.raises(errors.ApiError) as refused:
        await kube.create(FTD, body)
    assert refused.value.code == 422
    assert says in str(refused.value)
