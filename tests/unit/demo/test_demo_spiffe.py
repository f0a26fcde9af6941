"""SPIFFE ID parsing and the X509-SVID leaf rules, without TLS."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from meshtool.demo import spiffe

from .demo_pki import CLIENT_ID, issue, make_ca


@pytest.mark.parametrize(
    "uri",
    [
        "spiffe://cluster.local",
        "spiffe://cluster.local/",
        "spiffe://Cluster.local/ns/a",
        "spiffe://cluster.local/ns//a",
        "spiffe://cluster.local/ns/../a",
        "spiffe://cluster.local/ns/a?x=1",
        "spiffe://user@cluster.local/ns/a",
        "spiffe://cluster.local:443/ns/a",
        "SPIFFE://cluster.local/ns/a",
        "http://cluster.local/ns/a",
    ],
)
def test_parse_id_rejects_malformed_ids(uri: str) -> None:
    with pytest.raises(spiffe.PeerRejected):
        spiffe.parse_id(uri)


def test_parse_id_round_trips() -> None:
    parsed = spiffe.parse_id(CLIENT_ID)
    assert (parsed.trust_domain, parsed.path) == ("cluster.local", "/ns/demo/sa/client")
    assert str(parsed) == CLIENT_ID


def test_verify_client_allow_list_is_optional() -> None:
    der = _der(uris=(CLIENT_ID,))
    assert str(spiffe.verify_client(der, trust_domain="cluster.local", allowed=())) == CLIENT_ID
    with pytest.raises(spiffe.PeerRejected, match="not an allowed client"):
        spiffe.verify_client(
            der, trust_domain="cluster.local", allowed={"spiffe://cluster.local/x"}
        )


def test_svid_needs_a_uri_san() -> None:
    with pytest.raises(spiffe.PeerRejected, match="0 URI SANs"):
        spiffe.svid_id(_der(dns=("server.demo.svc",)))


def _der(**kwargs) -> bytes:
    return issue(make_ca("ca", "ecdsa"), **kwargs).cert.public_bytes(Encoding.DER)


def test_verify_client_chain_checks_the_chain_at_the_given_time() -> None:
    ca, other = make_ca("ca", "ed25519"), make_ca("other", "ed25519")
    leaf = issue(ca, uris=(CLIENT_ID,)).cert
    kwargs = {"anchors": [ca.cert], "trust_domain": "cluster.local", "allowed": ()}
    now = leaf.not_valid_before_utc + dt.timedelta(minutes=1)
    assert str(spiffe.verify_client_chain([leaf], now=now, **kwargs)) == CLIENT_ID
    later = leaf.not_valid_after_utc + dt.timedelta(seconds=1)
    with pytest.raises(spiffe.PeerRejected, match=r"SPIFFE trust bundle: .*expired at"):
        spiffe.verify_client_chain([leaf], now=later, **kwargs)
    with pytest.raises(spiffe.PeerRejected, match="not issued by any trust anchor"):
        spiffe.verify_client_chain([leaf], now=now, **{**kwargs, "anchors": [other.cert]})
