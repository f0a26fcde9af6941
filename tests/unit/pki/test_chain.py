from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from OpenSSL import crypto

from meshtool.clock import FakeClock
from meshtool.pki import capool, chain, issue

from . import certs

NOW = certs.NOW


def leaf_of(ca: capool.CA) -> x509.Certificate:
    result = issue.issue_leaf(
        public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        profile=issue.LeafProfile(dns_names=("a.example",)),
        max_expiration_seconds=86400,
        ca=ca,
        clock=FakeClock(NOW),
    )
    assert isinstance(result, issue.IssuedLeaf)
    return result.certificate


def openssl_accepts(path: list[x509.Certificate], anchors: list[x509.Certificate]) -> bool:
    store = crypto.X509Store()
    for anchor in anchors:
        store.add_cert(crypto.X509.from_cryptography(anchor))
    store.set_time(NOW.replace(tzinfo=None))
    intermediates = [crypto.X509.from_cryptography(c) for c in path[1:]]
    context = crypto.X509StoreContext(store, crypto.X509.from_cryptography(path[0]), intermediates)
    try:
        context.verify_certificate()
    except crypto.X509StoreContextError:
        return False
    return True


def test_verifies_through_intermediates_to_the_anchor() -> None:
    ca = certs.with_intermediate(certs.with_intermediate(certs.root_ca()))
    leaf = leaf_of(ca)

    path = chain.verify([leaf, *ca.intermediates], [ca.root], now=NOW)

    assert path == (leaf, *ca.intermediates, ca.root)
    assert openssl_accepts([leaf, *ca.intermediates], [ca.root])


def test_the_chain_may_contain_the_anchor() -> None:
    ca = certs.root_ca()
    leaf = leaf_of(ca)

    assert chain.verify([leaf, ca.root], [ca.root], now=NOW) == (leaf, ca.root)
    assert chain.verify([ca.root], [ca.root], now=NOW) == (ca.root,)


def test_picks_the_right_anchor_among_several() -> None:
    ca = certs.root_ca(ca_id="b")
    others = [certs.root_ca(ca_id=str(i)).root for i in range(3)]
    leaf = leaf_of(ca)

    assert chain.verify([leaf], [*others, ca.root], now=NOW)[-1] == ca.root


def _ca_with(**options: object) -> tuple[capool.CA, x509.Certificate]:
    """A root, an intermediate built with `options`, and a leaf under the intermediate."""
    root = certs.root_ca()
    key = ed25519.Ed25519PrivateKey.generate()
    intermediate = certs.make_cert(
        key=key,
        subject=certs.name("intermediate"),
        issuer_key=root.signing_key,
        issuer=root.root.subject,
        **options,  # type: ignore[arg-type]
    )
    leaf = certs.make_cert(
        key=ec.generate_private_key(ec.SECP256R1()),
        subject=certs.name("leaf"),
        issuer_key=key,
        issuer=intermediate.subject,
        ca=False,
    )
    return capool.CA("1", key, root.root, (intermediate,)), leaf


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ca": False}, "certificate 2 (CN=intermediate): not a CA (BasicConstraints cA=false)"),
        ({"ca": None}, "certificate 2 (CN=intermediate): not a CA (no BasicConstraints)"),
        (
            {"usage": certs.key_usage(cert_sign=False, digital_signature=True)},
            "certificate 2 (CN=intermediate): KeyUsage lacks keyCertSign",
        ),
        (
            {"not_after": NOW - dt.timedelta(seconds=1), "not_before": NOW - dt.timedelta(days=2)},
            "certificate 2 (CN=intermediate): expired at 2026-01-01T11:59:59.750000+00:00",
        ),
        (
            {"not_before": NOW + dt.timedelta(hours=1)},
            "certificate 2 (CN=intermediate): not valid before 2026-01-01T13:00:00.750000+00:00",
        ),
    ],
)
def test_rejects_bad_intermediates(options: dict[str, object], message: str) -> None:
    ca, leaf = _ca_with(**options)

    with pytest.raises(chain.ChainError) as caught:
        chain.verify([leaf, *ca.intermediates], [ca.root], now=NOW)

    assert str(caught.value).replace(".750000", "") == message.replace(".750000", "")
    assert not openssl_accepts([leaf, *ca.intermediates], [ca.root])


def test_path_length_is_enforced() -> None:
    root_key = ed25519.Ed25519PrivateKey.generate()
    root = certs.make_cert(key=root_key, subject=certs.name("root"), path_length=0)
    ca = certs.with_intermediate(capool.CA("1", root_key, root))
    leaf = leaf_of(ca)

    with pytest.raises(
        chain.ChainError, match=r"certificate 3 \(CN=root\): pathLenConstraint 0 exceeded"
    ):
        chain.verify([leaf, *ca.intermediates], [root], now=NOW)
    assert not openssl_accepts([leaf, *ca.intermediates], [root])
    assert chain.verify([leaf_of(capool.CA("1", root_key, root))], [root], now=NOW)


def test_rejects_a_chain_from_another_root() -> None:
    ca = certs.root_ca()
    stranger = certs.root_ca()

    with pytest.raises(
        chain.ChainError, match=r"^certificate 1 \(empty subject\): not issued by any trust anchor$"
    ):
        chain.verify([leaf_of(ca)], [stranger.root], now=NOW)


def test_rejects_a_broken_link() -> None:
    ca = certs.with_intermediate(certs.root_ca())
    other = certs.with_intermediate(certs.root_ca())

    with pytest.raises(
        chain.ChainError, match=r"^certificate 1 \(empty subject\): not issued by certificate 2"
    ):
        chain.verify([leaf_of(ca), other.intermediates[0]], [other.root], now=NOW)


def test_rejects_an_expired_leaf_and_an_empty_chain() -> None:
    ca = certs.root_ca()

    with pytest.raises(chain.ChainError, match=r"certificate 1 .*: expired at"):
        chain.verify([leaf_of(ca)], [ca.root], now=NOW + dt.timedelta(days=2))
    with pytest.raises(chain.ChainError, match="the chain is empty"):
        chain.verify([], [ca.root], now=NOW)
