"""`testing.federation`: the FederatedTrustDomain body and a credential folder's sources, and
what the kubelet simulator writes for them: one file per trust domain, never a merged one, and an
empty file for a peer whose federated bundle is gone."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meshtool.pki import pem
from meshtool.testing import federation, fleet, simstate

SIGNER = "row-major.net/spiffe"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def ca(name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


EAST, WEST = ca("east"), ca("west")


def ctb(name: str, cert: x509.Certificate, *, workload_td: str, peer_td: str) -> dict:
    labels = federation.bundle_labels(workload_td=workload_td, peer_td=peer_td)
    trust = cert.public_bytes(serialization.Encoding.PEM).decode()
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"signerName": SIGNER, "trustBundle": trust},
    }


OWN = ctb("row-major.net:spiffe:primary-bundle", EAST, workload_td="east.test", peer_td="east.test")
PEER = ctb("row-major.net:spiffe:west.test", WEST, workload_td="east.test", peer_td="west.test")
# A bundle of another workload trust domain sharing the cluster: its federation is not ours.
OTHER = ctb("row-major.net:spiffe:x", WEST, workload_td="other.test", peer_td="west.test")


def test_federated_trust_domain_body():
    body = federation.federated_trust_domain(
        trust_domain="west.test",
        endpoint_url="https://127.0.0.1:8443/",
        endpoint_id=federation.endpoint_spiffe_id("west.test"),
        bootstrap=b'{"keys":[]}',
    )
    assert body["apiVersion"] == "meshtool.row-major.net/v1alpha1"
    assert body["kind"] == "FederatedTrustDomain" and body["metadata"] == {"name": "west.test"}
    assert body["spec"] == {
        "trustDomain": "west.test",
        "bundleEndpointURL": "https://127.0.0.1:8443/",
        "bundleEndpointProfile": {
            "type": "https_spiffe",
            "endpointSPIFFEID": "spiffe://west.test/meshtool/bundle-endpoint",
        },
        "trustDomainBundle": '{"keys":[]}',
    }
    without = federation.federated_trust_domain(
        trust_domain="west.test", endpoint_url="https://h/", endpoint_id="spiffe://west.test/e"
    )
    assert "trustDomainBundle" not in without["spec"]


def test_credential_folder_sources():
    sources = federation.credential_folder_sources(
        signer_name=SIGNER, workload_td="east.test", peers=["west.test"]
    )
    assert sources[0] == {
        "podCertificate": {
            "signerName": SIGNER,
            "keyType": "ECDSAP256",
            "credentialBundlePath": "credential-bundle.pem",
        }
    }
    own, peer = sources[1]["clusterTrustBundle"], sources[2]["clusterTrustBundle"]
    assert own["path"] == "east.test.spiffe-trust-bundle.pem" and "optional" not in own
    assert peer["path"] == "west.test.spiffe-trust-bundle.pem" and peer["optional"] is True
    assert peer["labelSelector"]["matchLabels"] == {
        "k8s.spiffe.io/canarying": "live",
        "k8s.spiffe.io/workload-trust-domain": "east.test",
        "k8s.spiffe.io/peer-trust-domain": "west.test",
    }


def _folder(bundles: list[dict]) -> dict[str, bytes] | None:
    sources = federation.credential_folder_sources(
        signer_name=SIGNER, workload_td="east.test", peers=["west.test"]
    )[1:]  # the bundle sources; the SVID is the projection's, tested elsewhere
    pod = fleet.pod_body("ns", "p", node="n", service_account="sa", sources=sources)
    (volume,) = simstate.relevant_volumes(pod)
    return simstate.PodRecord(pod).payload(volume, bundles)


def _certs(content: bytes) -> list[x509.Certificate]:
    return list(pem.certificates(content))


def test_the_simulator_writes_one_file_per_trust_domain():
    files = _folder([OWN, PEER, OTHER])
    assert files is not None and set(files) == {
        "east.test.spiffe-trust-bundle.pem",
        "west.test.spiffe-trust-bundle.pem",
    }
    assert _certs(files["east.test.spiffe-trust-bundle.pem"]) == [EAST]
    assert _certs(files["west.test.spiffe-trust-bundle.pem"]) == [WEST]


def test_a_defederated_peer_leaves_an_empty_file_and_our_own_bundle_is_required():
    files = _folder([OWN])
    assert files is not None and files["west.test.spiffe-trust-bundle.pem"] == b""
    assert _folder([PEER]) is None  # without our own bundle the volume waits


def test_peer_bundles():
    assert federation.peer_bundles([OWN, PEER], signer_name=SIGNER, peer_td="west.test") == [PEER]
    assert federation.peer_bundles([PEER], signer_name="x/y", peer_td="west.test") == []
