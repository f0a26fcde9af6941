from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID

from meshtool.clock import FakeClock
from meshtool.pki import caissuers, capool, issue

URL = "https://issuer.example/.well-known/meshtool/signers/row-major.net/spiffe/anchors.p7c"


def leaf(pool: capool.CAPool, clock: FakeClock, *extra: x509.ExtensionType) -> x509.Certificate:
    profile = issue.LeafProfile(
        uris=("spiffe://td/ns/a/sa/b",), extra_extensions=tuple((e, False) for e in extra)
    )
    issued = issue.issue_leaf(
        public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        profile=profile,
        max_expiration_seconds=3600,
        ca=pool.signing_ca,
        clock=clock,
    )
    assert isinstance(issued, issue.IssuedLeaf)
    return issued.certificate


@pytest.fixture
def pool(clock: FakeClock) -> capool.CAPool:
    return capool.new_pool(ca_id="1", name="row-major.net/spiffe", clock=clock)


def test_the_extension_is_one_non_critical_ca_issuers_uri_read_back(pool, clock) -> None:
    cert = leaf(pool, clock, caissuers.extension(URL))
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    assert not aia.critical
    assert [d.access_method for d in aia.value] == [AuthorityInformationAccessOID.CA_ISSUERS]
    assert caissuers.urls(cert) == (URL,)
    assert caissuers.url(cert) == URL
    # AIA is not a SAN: the SVID still has exactly one URI SAN.
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://td/ns/a/sa/b"]


def test_no_extension_no_url_and_ocsp_entries_are_not_ca_issuers(pool, clock) -> None:
    assert caissuers.url(leaf(pool, clock)) is None
    ocsp = x509.AccessDescription(
        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("https://ocsp.example")
    )
    assert caissuers.urls(leaf(pool, clock, x509.AuthorityInformationAccess([ocsp]))) == ()


def test_two_ca_issuers_urls_are_ambiguous(pool, clock) -> None:
    two = x509.AuthorityInformationAccess(
        [*caissuers.extension(URL), *caissuers.extension(URL + "2")]
    )
    with pytest.raises(caissuers.AnchorsError, match="2 caIssuers URLs"):
        caissuers.url(leaf(pool, clock, two))


def test_empty_url_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        caissuers.extension("")


@pytest.mark.parametrize("fmt", [caissuers.P7C, caissuers.PEM])
def test_anchors_documents_round_trip(pool, clock, fmt) -> None:
    other = capool.new_pool(ca_id="2", name="x", key_type="ecdsa-p256", clock=clock)
    roots = (pool.signing_ca.root, other.signing_ca.root)
    data = caissuers.encode(roots, fmt)
    assert caissuers.decode(data, fmt) == roots
    if fmt == caissuers.P7C:
        assert data[:1] == b"\x30"  # DER SEQUENCE, not PEM


@pytest.mark.parametrize(
    ("data", "fmt", "problem"),
    [
        (b"not der", caissuers.P7C, "not a DER PKCS#7"),
        (b"not pem", caissuers.PEM, "PEM"),
        (b"", caissuers.PEM, "no certificate|PEM"),
        (b"x", "zip", "unknown anchors format"),
    ],
)
def test_bad_anchors_documents_are_refused(data, fmt, problem) -> None:
    with pytest.raises(caissuers.AnchorsError, match=problem):
        caissuers.decode(data, fmt)


def test_encode_needs_certificates() -> None:
    with pytest.raises(caissuers.AnchorsError):
        caissuers.encode((), caissuers.P7C)


def test_the_format_comes_from_the_suffix() -> None:
    assert caissuers.format_of(URL) == caissuers.P7C
    assert caissuers.format_of(URL.replace(".p7c", ".pem")) == caissuers.PEM
    assert caissuers.format_of("https://h/anchors.pem?x=1") == caissuers.PEM
