from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509 import verification

from meshtool.anchorclient import discovery
from meshtool.api import anchorpaths
from meshtool.clock import FakeClock
from meshtool.pki import caissuers

from . import chains

ISSUER = "https://issuer.example/cluster-a"
URL = anchorpaths.url(ISSUER, chains.SIGNER)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def fetcher(documents: dict[str, bytes], seen: list[str]) -> discovery.Fetch:
    async def fetch(url: str) -> bytes:
        seen.append(url)
        return documents[url]

    return fetch


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ed25519"])
async def test_a_leaf_leads_to_its_anchors_and_the_chain_verifies(clock, key_type) -> None:
    pool = chains.pool(clock, key_type)
    certs = chains.leaf_chain(pool, clock, issuer=ISSUER)
    seen: list[str] = []
    documents = {URL: caissuers.encode([pool.signing_ca.root])}
    found = await discovery.discover(certs, fetch=fetcher(documents, seen), now=clock.now())
    assert seen == [URL]
    assert found.url == URL
    assert found.anchors == (pool.signing_ca.root,)
    assert found.path[0] == certs[0] and found.path[-1] == pool.signing_ca.root
    if key_type == "ecdsa-p256":  # an independent verifier agrees
        store = verification.Store(list(found.anchors))
        verifier = verification.PolicyBuilder().store(store).time(clock.now())
        verified = verifier.build_client_verifier().verify(certs[0], list(certs[1:]))
        assert verified.subjects == [x509.UniformResourceIdentifier(chains.SPIFFE_ID)]


async def test_pem_anchors_are_read_by_their_suffix(clock) -> None:
    pool = chains.pool(clock)
    certs = chains.leaf_chain(pool, clock, issuer=ISSUER)
    pem_url = anchorpaths.url(ISSUER, chains.SIGNER, "pem")
    body = caissuers.encode([pool.signing_ca.root], caissuers.PEM)
    assert discovery.verify_against(certs, pem_url, body, now=clock.now()).url == pem_url


async def test_anchors_of_another_ca_do_not_verify(clock) -> None:
    certs = chains.leaf_chain(chains.pool(clock), clock, issuer=ISSUER)
    other = chains.pool(clock, ca_id="other")
    documents = {URL: caissuers.encode([other.signing_ca.root])}
    with pytest.raises(discovery.DiscoveryError, match="does not verify against the anchors"):
        await discovery.discover(certs, fetch=fetcher(documents, []), now=clock.now())


@pytest.mark.parametrize(
    ("issuer", "problem"),
    [(None, "names no issuer"), ("http://issuer.example", "not an https URL")],
)
def test_a_leaf_without_a_usable_url_is_refused_before_any_fetch(clock, issuer, problem) -> None:
    certs = chains.leaf_chain(chains.pool(clock), clock, issuer=issuer)
    with pytest.raises(discovery.DiscoveryError, match=problem):
        discovery.anchors_url(certs)


def test_garbage_anchors_and_no_chain_are_errors(clock) -> None:
    certs = chains.leaf_chain(chains.pool(clock), clock, issuer=ISSUER)
    with pytest.raises(discovery.DiscoveryError, match="not a DER PKCS#7"):
        discovery.verify_against(certs, URL, b"<html>", now=clock.now())
    with pytest.raises(discovery.DiscoveryError, match="no certificate"):
        discovery.anchors_url(())


def test_a_meshtool_anchors_url_names_the_cluster_and_signer() -> None:
    assert discovery.issuing_cluster(URL) == (ISSUER, chains.SIGNER)
    assert discovery.issuing_cluster(anchorpaths.url(ISSUER, chains.SIGNER, "pem")) == (
        ISSUER,
        chains.SIGNER,
    )
    assert discovery.issuing_cluster("https://ca.example/intermediate.p7c") is None
    assert discovery.issuing_cluster(anchorpaths.path(chains.SIGNER)) is None
