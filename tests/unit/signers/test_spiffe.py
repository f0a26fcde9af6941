from __future__ import annotations

import dataclasses

import pytest
from cryptography import x509

from meshtool.api import decisions
from meshtool.pki import podidentity
from meshtool.signers import names
from meshtool.signers.podidentity import PodIdentitySigner, pod_identity
from meshtool.signers.spiffe import SpiffeSigner

from . import requests
from .conftest import FakeView


@pytest.mark.parametrize("make", [SpiffeSigner, PodIdentitySigner])
@pytest.mark.parametrize(
    ("trust_domain", "why"),
    [
        ("", "empty"),
        ("Cluster.Local", "only lowercase"),
        ("example.org:8443", "port"),
        ("me@example.org", "userinfo"),
        ("example.org/x", "only lowercase"),
        ("a" * 256, "longer than 255"),
    ],
)
def test_trust_domain_is_validated_at_construction(make, trust_domain: str, why: str) -> None:
    with pytest.raises(ValueError, match=f"invalid SPIFFE trust domain .*{why}"):
        make(trust_domain=trust_domain)


def test_defaults() -> None:
    assert SpiffeSigner().trust_domain == "cluster.local"
    assert SpiffeSigner().signer_name == names.SPIFFE
    assert PodIdentitySigner().trust_domain == "cluster.local"
    assert PodIdentitySigner().signer_name == names.POD_IDENTITY
    assert SpiffeSigner(trust_domain="a_b-c.d").trust_domain == "a_b-c.d"


def _leaf(decision: decisions.Decision) -> x509.Certificate:
    assert isinstance(decision, decisions.Issued), decision
    return x509.load_pem_x509_certificates(decision.chain_pem.encode())[0]


def test_spiffe_id_uses_the_trust_domain(pools, clock) -> None:
    signer = SpiffeSigner(trust_domain="prod.example")
    request = requests.request(signer_name=signer.signer_name)
    leaf = _leaf(signer.decide(request, view=FakeView(), pool=pools["ed25519"], clock=clock))
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier("spiffe://prod.example/ns/ns1/sa/web")]


@pytest.mark.parametrize("make", [SpiffeSigner, PodIdentitySigner])
def test_names_that_cannot_form_a_spiffe_id_are_denied(pools, clock, make) -> None:
    signer = make()
    request = requests.request(signer_name=signer.signer_name)
    odd = dataclasses.replace(request, service_account_name="a/b")
    decision = signer.decide(odd, view=FakeView(), pool=pools["ed25519"], clock=clock)
    assert isinstance(decision, decisions.Denied)
    assert decision.reason == decisions.INVALID_REQUEST
    assert "SPIFFE ID" in decision.message


def test_pod_identity_carries_every_request_field(pools, clock) -> None:
    signer = PodIdentitySigner(trust_domain="prod.example")
    request = requests.request(signer_name=signer.signer_name)
    decision = signer.decide(request, view=FakeView(), pool=pools["ecdsa-p256"], clock=clock)
    leaf = _leaf(decision)
    identity = podidentity.from_certificate(leaf)
    assert identity == pod_identity(request)
    assert identity is not None
    assert identity.as_dict() == {
        "namespace": "ns1",
        "service_account_name": "web",
        "service_account_uid": requests.TARGET.service_account_uid,
        "pod_name": "web-0",
        "pod_uid": requests.TARGET.pod_uid,
        "node_name": "node-1",
        "node_uid": requests.TARGET.node_uid,
    }
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier("spiffe://prod.example/ns/ns1/sa/web")]
    assert "pod ns1/web-0" in decision.message  # type: ignore[union-attr]
