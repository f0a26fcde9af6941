from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from meshtool.api import anchorpaths, spiffebundle
from meshtool.api.spiffebundle import BundleError, SpiffeBundle
from meshtool.clock import FakeClock
from meshtool.pki import capool, issue
from meshtool.pki.ca import CA


@pytest.fixture(scope="module")
def cas() -> dict[str, CA]:
    clock = FakeClock()
    return {
        kind: capool.generate_ca(ca_id="1", name=kind, key_type=kind, clock=clock)
        for kind in ("ed25519", "ecdsa-p256")
    }


def _now() -> dt.datetime:
    return FakeClock().now()


def _doc(data: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(data)
    return doc


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256"])
def test_round_trip_keeps_authorities_sequence_and_hint(cas: dict[str, CA], kind: str) -> None:
    bundle = SpiffeBundle((cas[kind].root,), sequence=7, refresh_hint=300)
    assert spiffebundle.parse(spiffebundle.encode(bundle), now=_now()) == bundle


def test_encoding_is_a_jwk_set_without_kid(cas: dict[str, CA]) -> None:
    doc = _doc(
        spiffebundle.encode(SpiffeBundle((cas["ecdsa-p256"].root, cas["ed25519"].root), 1, 60))
    )
    assert [key["kty"] for key in doc["keys"]] == ["EC", "OKP"]
    assert all(key["use"] == "x509-svid" and "kid" not in key for key in doc["keys"])
    assert doc["keys"][0]["crv"] == "P-256" and doc["keys"][1]["crv"] == "Ed25519"
    assert doc["spiffe_sequence"] == 1 and doc["spiffe_refresh_hint"] == 60


def test_jwt_keys_are_ignored_and_duplicates_collapse(cas: dict[str, CA]) -> None:
    doc = _doc(spiffebundle.encode(SpiffeBundle((cas["ed25519"].root,) * 2)))
    doc["keys"].append({"use": "jwt-svid", "kty": "EC", "kid": "a"})
    bundle = spiffebundle.parse(json.dumps(doc).encode(), now=_now())
    assert bundle.x509_authorities == (cas["ed25519"].root,) and bundle.sequence is None


def _with_key(cas: dict[str, CA], **changes: Any) -> bytes:
    doc = _doc(spiffebundle.encode(SpiffeBundle((cas["ed25519"].root,), 1, 300)))
    doc["keys"][0].update(changes)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not UTF-8 JSON"),
        (b"[]", "not a JSON object"),
        (b"{}", "no 'keys' list"),
        (b'{"keys": []}', "no x509-svid authority"),
        (b'{"keys": [1]}', "key 0: not a JSON object"),
        (b" " * (spiffebundle.MAX_BYTES + 1), "larger than"),
    ],
)
def test_malformed_bodies_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        spiffebundle.parse(body, now=_now())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"use": "sig"}, "key 0: use 'sig'"),
        ({"kty": "EC"}, "kty 'EC' does not match"),
        ({"x5c": []}, "exactly one certificate"),
        ({"x5c": ["!!"]}, "not a base64 DER"),
    ],
)
def test_bad_keys_are_refused(cas: dict[str, CA], changes: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        spiffebundle.parse(_with_key(cas, **changes), now=_now())


def test_bad_sequence_is_refused(cas: dict[str, CA]) -> None:
    doc = _doc(spiffebundle.encode(SpiffeBundle((cas["ed25519"].root,))))
    doc["spiffe_sequence"] = "3"
    with pytest.raises(BundleError, match="spiffe_sequence must be an integer"):
        spiffebundle.parse(json.dumps(doc).encode(), now=_now())


def test_expired_and_non_self_signed_cas_are_refused(cas: dict[str, CA]) -> None:
    body = spiffebundle.encode(SpiffeBundle((cas["ed25519"].root,)))
    with pytest.raises(BundleError, match="key 0: the CA expired"):
        spiffebundle.parse(body, now=_now() + dt.timedelta(days=400))
    child = capool.generate_ca(ca_id="2", name="sub", clock=FakeClock(), parent=cas["ed25519"])
    with pytest.raises(BundleError, match="not self-signed"):
        spiffebundle.parse(spiffebundle.encode(SpiffeBundle(child.intermediates[:1])), now=_now())


def test_a_leaf_is_not_an_authority(cas: dict[str, CA]) -> None:
    leaf = _leaf(cas["ecdsa-p256"])
    doc = _doc(spiffebundle.encode(SpiffeBundle((cas["ecdsa-p256"].root,))))
    doc["keys"][0]["x5c"] = [base64.b64encode(leaf.public_bytes(Encoding.DER)).decode()]
    with pytest.raises(BundleError, match="not a CA"):
        spiffebundle.parse(json.dumps(doc).encode(), now=_now())


def _leaf(ca: CA) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue.issue_leaf(
        public_key=key.public_key(),
        profile=issue.LeafProfile(uris=("spiffe://td/x",)),
        max_expiration_seconds=3600,
        ca=ca,
        clock=FakeClock(),
    )
    assert isinstance(leaf, issue.IssuedLeaf)
    return leaf.certificate


def test_anchor_paths_round_trip() -> None:
    url = anchorpaths.url("https://issuer.example/", "row-major.net/spiffe")
    assert (
        url
        == "https://issuer.example/.well-known/meshtool/signers/row-major.net/spiffe/anchors.p7c"
    )
    assert anchorpaths.parse_path(anchorpaths.path("a.example/b/c", "pem")) == (
        "a.example/b/c",
        "pem",
    )
    for other in (
        "/",
        "/.well-known/meshtool/signers/x/anchors.der",
        "/.well-known/meshtool/signers/anchors.pem",
    ):
        assert anchorpaths.parse_path(other) is None
