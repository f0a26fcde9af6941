from __future__ import annotations

import pytest

from meshtool.signers import names


def test_defaults() -> None:
    assert names.SERVICE_DNS == "row-major.net/service-dns"
    assert names.SPIFFE == "row-major.net/spiffe"
    assert names.POD_IDENTITY == "row-major.net/pod-identity"
    assert names.LIVE == "live"


def test_everything_follows_the_domain() -> None:
    n = names.SignerNames("mesh.example.com")
    assert (n.service_dns, n.spiffe, n.pod_identity) == (
        "mesh.example.com/service-dns",
        "mesh.example.com/spiffe",
        "mesh.example.com/pod-identity",
    )
    assert n.service_dns_canarying_label == "service-dns.mesh.example.com/canarying"
    assert n.spiffe_canarying_label == "spiffe.mesh.example.com/canarying"
    assert n.spiffe_trust_domain_label == "spiffe.mesh.example.com/trust-domain"
    assert n.pod_identity_canarying_label == "podidentity.mesh.example.com/canarying"


@pytest.mark.parametrize(
    "domain",
    [
        "",
        "Row-Major.net",
        "-a.net",
        "a-.net",
        "a..net",
        ".a.net",
        "a.net.",
        "a_b.net",
        "a/b",
        "x" * 64,
    ],
)
def test_bad_domains(domain: str) -> None:
    with pytest.raises(ValueError, match="signer domain"):
        names.SignerNames(domain)


def test_domain_length_leaves_room_for_label_prefixes() -> None:
    longest = ".".join(["a" * 60] * 4)[:241].rstrip(".")
    names.SignerNames(longest)
    with pytest.raises(ValueError, match="characters long"):
        names.SignerNames(longest + "b.c")
