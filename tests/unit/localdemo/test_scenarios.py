"""What the local demo expects each example's server to echo for its client."""

from __future__ import annotations

from pathlib import Path

from meshtool.localdemo import manifests, scenarios

REPO = Path(__file__).resolve().parents[3]


def client_of(namespace: str) -> manifests.Workload:
    docs = manifests.load_documents(REPO / "example-manifests")
    (client,) = [
        w
        for w in manifests.workloads(docs, node="demo-node")
        if (w.namespace, w.deployment) == (namespace, "client")
    ]
    return client


def test_a_spiffe_client_is_expected_to_be_echoed_by_its_spiffe_id():
    assert scenarios.expected_client_id(client_of("spiffe-mtls")) == (
        "spiffe://cluster.local/ns/spiffe-mtls/sa/client"
    )


def test_a_pod_identity_client_is_expected_to_be_echoed_with_its_pod_and_node():
    assert scenarios.expected_client_id(client_of("pod-identity-client"), "td.example") == (
        "spiffe://td.example/ns/pod-identity-client/sa/client; "
        "pod pod-identity-client/client-0 on node demo-node"
    )


def test_a_client_without_a_certificate_expects_no_echo():
    assert scenarios.expected_client_id(client_of("service-dns-unauth-client")) is None
