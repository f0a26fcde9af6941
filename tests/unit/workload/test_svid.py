"""SPIFFE ID parsing and the X509-SVID leaf rules, without TLS (`meshtool.workload.svid`)."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshtool.workload import svid

from .workload_pki import odd_leaf

CLIENT_ID = "spiffe://cluster.local/ns/demo/sa/client"


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
    with pytest.raises(svid.PeerRejected):
        svid.parse_id(uri)


def test_parse_id_round_trips() -> None:
    parsed = svid.parse_id(CLIENT_ID)
    assert (parsed.trust_domain, parsed.path) == ("cluster.local", "/ns/demo/sa/client")
    assert str(parsed) == CLIENT_ID


def test_svid_needs_a_uri_san() -> None:
    with pytest.raises(svid.PeerRejected, match="0 URI SANs"):
        svid.svid_id(_cert(dns=("server.demo.svc",)))


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"uris": (CLIENT_ID, "spiffe://cluster.local/x")}, "2 URI SANs"),
        ({"uris": (CLIENT_ID,), "is_ca": True}, "is a CA"),
        ({"uris": ("spiffe://cluster.local",)}, "names a trust domain"),
    ],
)
def test_svid_leaf_rules(kwargs, reason: str) -> None:
    with pytest.raises(svid.PeerRejected, match=reason):
        svid.svid_id(_cert(**kwargs))


def test_require_usage_checks_an_extended_key_usage_when_present() -> None:
    server_only = odd_leaf(uris=(CLIENT_ID,), eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    svid.require_usage(server_only, svid.SERVER)
    with pytest.raises(svid.PeerRejected, match="does not allow TLS clients"):
        svid.require_usage(server_only, svid.CLIENT)


def _cert(**kwargs) -> x509.Certificate:
    return odd_leaf(**{"eku": (ExtendedKeyUsageOID.CLIENT_AUTH,), **kwargs})
