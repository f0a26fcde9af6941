"""What the verifiers this project uses make of CA name constraints (the facts behind
docs/decisions/0004-name-constraints.md): cryptography's PolicyBuilder and OpenSSL's store
(pyOpenSSL; Python's `ssl` uses the same OpenSSL) enforce DNS subtrees; for URI subtrees
OpenSSL enforces them while cryptography refuses every chain through such a CA."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from OpenSSL import crypto

from meshtool.clock import FakeClock
from meshtool.pki import capool, constraints, issue

from . import certs


def signed(clock: FakeClock, names: x509.NameConstraints | None, **profile: tuple[str, ...]):
    ca = capool.generate_ca(
        ca_id="1", name="n", key_type="ecdsa-p256", clock=clock, constraints=names
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue.issue_leaf(
        public_key=key.public_key(), profile=issue.LeafProfile(**profile),
        max_expiration_seconds=86400, ca=ca, clock=clock,
    )  # fmt: skip
    assert isinstance(leaf, issue.IssuedLeaf)
    return ca, leaf.certificate


def by_cryptography(ca: capool.CA, cert: x509.Certificate, dns: str | None) -> bool:
    builder = verification.PolicyBuilder().store(verification.Store([ca.root])).time(certs.NOW)
    try:
        if dns is None:
            builder.build_client_verifier().verify(cert, [])
        else:
            builder.build_server_verifier(x509.DNSName(dns)).verify(cert, [])
    except verification.VerificationError:
        return False
    return True


def by_openssl(ca: capool.CA, cert: x509.Certificate) -> bool:
    store = crypto.X509Store()
    store.add_cert(crypto.X509.from_cryptography(ca.root))
    store.set_time(certs.NOW.replace(tzinfo=None) + dt.timedelta(minutes=1))
    try:
        crypto.X509StoreContext(store, crypto.X509.from_cryptography(cert)).verify_certificate()
    except crypto.X509StoreContextError:
        return False
    return True


@pytest.mark.parametrize("name,expected", [("web.ns1.svc", True), ("web.example.com", False)])
def test_dns_subtrees_are_enforced_by_both(clock: FakeClock, name: str, expected: bool) -> None:
    ca, cert = signed(clock, constraints.build(dns=[".svc"]), dns_names=(name,))

    assert by_cryptography(ca, cert, name) is expected
    assert by_openssl(ca, cert) is expected


@pytest.mark.parametrize(
    "uri,openssl", [("spiffe://cluster.local/ns/a/sa/b", True), ("spiffe://evil.org/ns/a", False)]
)
def test_uri_subtrees_openssl_enforces_them_cryptography_rejects_them(
    clock: FakeClock, uri: str, openssl: bool
) -> None:
    names = constraints.build(uri_hosts=["spiffe://cluster.local"])
    ca, cert = signed(clock, names, uris=(uri,))

    assert by_openssl(ca, cert) is openssl
    assert by_cryptography(ca, cert, None) is False  # "unsupported name constraint"
    assert constraints.warnings(names) == [constraints.URI_WARNING]


def test_constraints_are_critical_and_hosts_not_uris(clock: FakeClock) -> None:
    names = constraints.build(dns=["svc", "corp.example"], uri_hosts=["spiffe://td/"])
    ca, _ = signed(clock, names, dns_names=("a.b.svc",))

    ext = ca.root.extensions.get_extension_for_class(x509.NameConstraints)
    assert ext.critical
    assert [n.value for n in ext.value.permitted_subtrees or []] == ["svc", "corp.example", "td"]
    assert constraints.build() is None
