"""`meshtool.workload.peer`: the allow-list and the per-trust-domain chain check, without TLS."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from meshtool.signers import spiffeid
from meshtool.workload import peer, svid

from .workload_pki import make_ca
from .workload_pki import svid as issue_svid

A, B = "a.example", "b.example"


def test_allowed_permits_listed_ids_and_whole_trust_domains() -> None:
    allowed = peer.Allowed.of(ids={f"spiffe://{A}/x"}, trust_domains={B})
    assert allowed.permits(spiffeid.parse(f"spiffe://{A}/x"))
    assert allowed.permits(spiffeid.parse(f"spiffe://{B}/anyone"))
    assert not allowed.permits(spiffeid.parse(f"spiffe://{A}/y"))
    assert not peer.Allowed().permits(spiffeid.parse(f"spiffe://{A}/x"))  # empty: nobody


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [({"ids": {f"spiffe://{A}"}}, "names a trust domain"), ({"trust_domains": {"A"}}, "'A'")],
)
def test_allowed_of_validates(kwargs, reason: str) -> None:
    with pytest.raises(svid.PeerRejected, match=reason):
        peer.Allowed.of(**kwargs)


def test_verify_chain_checks_at_the_given_time() -> None:
    ca = make_ca(A, "ed25519")
    chain = x509.load_pem_x509_certificates(
        issue_svid(ca, f"spiffe://{A}/x").split(b"-----END PRIVATE KEY-----\n")[1]
    )
    kwargs = {
        "bundles": {A: (ca.root,)},
        "allowed": peer.Allowed(trust_domains=frozenset({A})),
        "usage": svid.CLIENT,
    }
    now = chain[0].not_valid_before_utc + dt.timedelta(minutes=1)
    assert str(peer.verify_chain(chain, now=now, **kwargs)) == f"spiffe://{A}/x"
    later = chain[0].not_valid_after_utc + dt.timedelta(seconds=1)
    with pytest.raises(svid.PeerRejected, match="expired at"):
        peer.verify_chain(chain, now=later, **kwargs)
    with pytest.raises(svid.PeerRejected, match="no certificate presented"):
        peer.verify_chain([], now=now, **kwargs)
