from __future__ import annotations

import datetime as dt

import pytest

from meshtool.api import decisions, pcr
from meshtool.api.types import KeyType, PodView, ServiceView
from meshtool.clock import FakeClock
from meshtool.pki import capool, issue
from meshtool.signers import policy
from meshtool.signers.base import Signer
from meshtool.signers.podidentity import PodIdentitySigner
from meshtool.signers.servicedns import ServiceDnsSigner
from meshtool.signers.spiffe import SpiffeSigner

from . import requests
from .conftest import FakeView

T = requests.TARGET
ALL = "ECDSAP256, ECDSAP384, ECDSAP521, ED25519, RSA3072, RSA4096"
MAKERS = {
    "service-dns": ServiceDnsSigner,
    "spiffe": SpiffeSigner,
    "pod-identity": PodIdentitySigner,
}


def _view() -> FakeView:
    pod = PodView(T.namespace, T.pod_name, T.pod_uid, {"app": "web"}, "web", "node-1")
    return FakeView([pod], [ServiceView(T.namespace, "web", "ClusterIP", {"app": "web"})])


def _decide(signer: Signer, request, pool: capool.CAPool, clock: FakeClock):
    return signer.decide(request, view=_view(), pool=pool, clock=clock)


@pytest.mark.parametrize("signer_id", MAKERS)
@pytest.mark.parametrize(
    ("kind", "named"),
    [("RSA2048", "RSA2048"), ("Ed448", "Ed448"), ("secp256k1", "ECDSA secp256k1")],
)
def test_unsupported_key_types_are_denied(pools, clock, signer_id: str, kind: str, named: str):
    signer = MAKERS[signer_id]()
    request = requests.request_with_unsupported_key(signer_name=signer.signer_name, kind=kind)
    assert request.key_type is None
    decision = _decide(signer, request, pools["ed25519"], clock)
    assert decision == decisions.Denied(
        decisions.UNSUPPORTED_KEY_TYPE,
        f"key type {named} is not accepted by {signer.signer_name}; use one of {ALL}",
    )


@pytest.mark.parametrize("signer_id", MAKERS)
def test_a_narrower_key_policy(pools, clock, signer_id: str) -> None:
    keys = policy.KeyPolicy(frozenset({KeyType.ED25519, KeyType.ECDSAP256}))
    signer = MAKERS[signer_id](keys=keys)
    refused = requests.request(signer_name=signer.signer_name, key_type=KeyType.RSA3072)
    decision = _decide(signer, refused, pools["ed25519"], clock)
    assert isinstance(decision, decisions.Denied)
    assert decision.reason == decisions.UNSUPPORTED_KEY_TYPE
    assert decision.message.endswith("use one of ECDSAP256, ED25519")
    allowed = requests.request(signer_name=signer.signer_name, key_type=KeyType.ED25519)
    assert isinstance(_decide(signer, allowed, pools["ed25519"], clock), decisions.Issued)


def test_key_policy_must_accept_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        policy.KeyPolicy(frozenset())


@pytest.mark.parametrize("signer_id", MAKERS)
def test_an_unreadable_key_is_an_invalid_request(pools, clock, signer_id: str) -> None:
    signer = MAKERS[signer_id]()
    obj = requests.body(signer_name=signer.signer_name)
    obj["spec"]["stubPKCS10Request"] = "bm90IGEgQ1NS"  # "not a CSR"
    decision = _decide(signer, pcr.parse(obj), pools["ed25519"], clock)
    assert isinstance(decision, decisions.Denied)
    assert decision.reason == decisions.INVALID_REQUEST
    assert decision.message.startswith("cannot read the public key: spec.stubPKCS10Request is not")


def test_a_v1_request_without_a_stub_is_an_invalid_request(pools, clock) -> None:
    signer = SpiffeSigner()
    obj = requests.body(signer_name=signer.signer_name)
    obj["spec"]["stubPKCS10Request"] = ""
    decision = _decide(signer, pcr.parse(obj), pools["ed25519"], clock)
    assert isinstance(decision, decisions.Denied)
    assert decision.reason == decisions.INVALID_REQUEST
    assert "v1beta1" in decision.message


@pytest.mark.parametrize("signer_id", MAKERS)
def test_undocumented_annotations_are_denied(pools, clock, signer_id: str) -> None:
    signer = MAKERS[signer_id]()
    notes = {"zz.example.com/x": "1", "example.com/flavour": "mint"}
    request = requests.request(signer_name=signer.signer_name, annotations=notes)
    decision = _decide(signer, request, pools["ed25519"], clock)
    documented = ", ".join(sorted(signer.ANNOTATIONS)) or "none"  # service-dns documents two
    assert decision == decisions.Denied(
        decisions.INVALID_USER_ANNOTATIONS,
        f"unverifiedUserAnnotations key 'example.com/flavour' is not understood by "
        f"{signer.signer_name} (documented keys: {documented})",
    )


def test_documented_annotations_pass_and_are_listed() -> None:
    documented = {"example.com/flavour": "which flavour to certify"}
    good = requests.request(signer_name="x.io/y", annotations={"example.com/flavour": "mint"})
    accepted = policy.check(
        good, keys=policy.KeyPolicy(), signer_name="x.io/y", annotations=documented
    )
    assert isinstance(accepted, policy.Accepted)
    bad = requests.request(signer_name="x.io/y", annotations={"example.com/colour": "red"})
    denied = policy.check(
        bad, keys=policy.KeyPolicy(), signer_name="x.io/y", annotations=documented
    )
    assert isinstance(denied, decisions.Denied)
    assert "'example.com/colour'" in denied.message
    assert "documented keys: example.com/flavour" in denied.message


@pytest.mark.parametrize("signer_id", MAKERS)
def test_an_expiring_ca_is_not_yet_never_failed(pools, signer_id: str) -> None:
    signer = MAKERS[signer_id]()
    pool = pools["ecdsa-p256"]
    late = FakeClock(pool.signing_ca.not_after - dt.timedelta(minutes=30))
    request = requests.request(signer_name=signer.signer_name)
    decision = _decide(signer, request, pool, late)
    assert isinstance(decision, decisions.NotYet)
    assert decision.reason == issue.CA_NOT_USABLE
    assert decision.retry_after is not None and decision.retry_after > 0


def test_a_too_short_max_expiration_is_not_yet(pools, clock) -> None:
    signer = SpiffeSigner()
    request = requests.request(signer_name=signer.signer_name, max_expiration_seconds=600)
    decision = _decide(signer, request, pools["ed25519"], clock)
    assert isinstance(decision, decisions.NotYet)
    assert decision.reason == issue.LIFETIME_TOO_SHORT


@pytest.mark.parametrize("signer_id", MAKERS)
def test_the_lifetime_policy_is_applied(pools, clock, signer_id: str) -> None:
    lifetime = issue.LifetimePolicy(max_lifetime=dt.timedelta(hours=2))
    signer = MAKERS[signer_id](lifetime=lifetime)
    request = requests.request(signer_name=signer.signer_name)
    decision = _decide(signer, request, pools["ed25519"], clock)
    assert isinstance(decision, decisions.Issued)
    assert decision.not_after - decision.not_before == dt.timedelta(hours=2)
    assert "issued by CA 'ca-ed25519' for " in decision.message


def test_requested_expiration_caps_the_lifetime(pools, clock) -> None:
    signer = SpiffeSigner()
    request = requests.request(signer_name=signer.signer_name, max_expiration_seconds=5400)
    decision = _decide(signer, request, pools["ed25519"], clock)
    assert isinstance(decision, decisions.Issued)
    assert decision.not_after - decision.not_before == dt.timedelta(seconds=5400)
