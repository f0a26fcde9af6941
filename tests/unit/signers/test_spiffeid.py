from __future__ import annotations

import pytest

from meshtool.signers import spiffeid
from meshtool.signers.spiffeid import InvalidSpiffeId, SpiffeId


@pytest.mark.parametrize(
    ("uri", "trust_domain", "path"),
    [
        ("spiffe://example.org", "example.org", ""),
        ("spiffe://example.org/ns/default/sa/web", "example.org", "/ns/default/sa/web"),
        ("spiffe://a-b_c.1/A.b-C_9", "a-b_c.1", "/A.b-C_9"),
        ("spiffe://x/..a/a..", "x", "/..a/a.."),
    ],
)
def test_parse_valid(uri: str, trust_domain: str, path: str) -> None:
    parsed = spiffeid.parse(uri)
    assert parsed == SpiffeId(trust_domain, path)
    assert str(parsed) == uri


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("", "does not start with"),
        ("http://example.org/a", "does not start with"),
        ("SPIFFE://example.org/a", "does not start with"),
        ("spiffe:/example.org", "does not start with"),
        ("spiffe://", "trust domain is empty"),
        ("spiffe:///a", "trust domain is empty"),
        ("spiffe://Example.org", "only lowercase"),
        ("spiffe://user@example.org", "userinfo"),
        ("spiffe://example.org:443/a", "port"),
        ("spiffe://example.org/a?x=1", "query"),
        ("spiffe://example.org/a#frag", "fragment"),
        ("spiffe://example.org/a%20b", "percent-encoding"),
        ("spiffe://example.org/", "empty"),
        ("spiffe://example.org/a/", "empty"),
        ("spiffe://example.org//a", "empty"),
        ("spiffe://example.org/a/./b", "'.'"),
        ("spiffe://example.org/a/../b", "'..'"),
        ("spiffe://example.org/a b", "only letters"),
        ("spiffe://example.org/ü", "only letters"),
        ("spiffe://" + "a" * 256, "longer than 255"),
        ("spiffe://example.org/" + "a" * 2040, "longer than 2048"),
    ],
)
def test_parse_invalid(uri: str, why: str) -> None:
    with pytest.raises(InvalidSpiffeId, match=why.replace(".", r"\.").replace("?", r"\?")):
        spiffeid.parse(uri)


def test_invalid_spiffe_id_is_a_value_error() -> None:
    assert issubclass(InvalidSpiffeId, ValueError)


def test_for_service_account() -> None:
    workload = spiffeid.for_service_account("cluster.local", "ns1", "web")
    assert str(workload) == "spiffe://cluster.local/ns/ns1/sa/web"
    assert workload.segments == ("ns", "ns1", "sa", "web")
    assert spiffeid.parse(str(workload)) == workload


def test_make_validates() -> None:
    assert spiffeid.make("td").path == ""
    assert spiffeid.make("td").segments == ()
    with pytest.raises(InvalidSpiffeId):
        spiffeid.make("td", "a/b")
    with pytest.raises(InvalidSpiffeId):
        spiffeid.make("td", "")
    with pytest.raises(InvalidSpiffeId, match="2048"):
        spiffeid.make("td", *(["abcdefghi"] * 205))


def test_validate_trust_domain_limits() -> None:
    spiffeid.validate_trust_domain("a" * 255)
    with pytest.raises(InvalidSpiffeId):
        spiffeid.validate_trust_domain("a" * 256)
