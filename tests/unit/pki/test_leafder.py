"""The direct DER encoder writes exactly what cryptography's CertificateBuilder writes.

The reference below is the builder path issuance used before `leafder`: the same extensions in
the same order. Ed25519 and RSA PKCS#1 v1.5 signatures are deterministic, so for those CAs the
whole certificate must be byte-identical; for ECDSA the to-be-signed part must be, and the
signature must verify under the issuer."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from meshtool.pki import issue, leafder

from . import certs

NB = certs.NOW.replace(microsecond=0)
AIA = x509.AuthorityInformationAccess(
    [
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS,
            x509.UniformResourceIdentifier("https://issuer.example/anchors.p7c"),
        )
    ]
)
PROFILES = {
    "dns": issue.LeafProfile(dns_names=("web.default.svc", "api.default.svc")),
    "spiffe": issue.LeafProfile(
        uris=("spiffe://cluster.local/ns/default/sa/web",),
        extended_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
    ),
    "extras": issue.LeafProfile(
        dns_names=("a.b.svc",),
        extended_key_usages=(ExtendedKeyUsageOID.CLIENT_AUTH,),
        extra_extensions=(
            (AIA, False),
            (
                x509.UnrecognizedExtension(
                    x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), b"\x0c\x02hi"
                ),
                True,
            ),
        ),
    ),
    "none": issue.LeafProfile(),
}


def reference(key, profile, ca, serial, not_before, not_after) -> x509.Certificate:
    exts: list[tuple[x509.ExtensionType, bool]] = [
        (issue._KEY_USAGE, True),
        (x509.BasicConstraints(ca=False, path_length=None), True),
    ]
    names = [x509.DNSName(n) for n in profile.dns_names]
    names += [x509.UniformResourceIdentifier(u) for u in profile.uris]
    if names:
        exts.append((x509.SubjectAlternativeName(names), True))
    if profile.extended_key_usages:
        exts.append((x509.ExtendedKeyUsage(list(profile.extended_key_usages)), False))
    exts.append((x509.SubjectKeyIdentifier.from_public_key(key), False))
    exts.append((ca.authority_key_identifier, False))
    exts += list(profile.extra_extensions)
    builder = x509.CertificateBuilder(
        issuer_name=ca.issuer_name,
        subject_name=x509.Name([]),
        public_key=key,
        serial_number=serial,
        not_valid_before=not_before,
        not_valid_after=not_after,
        extensions=[x509.Extension(e.oid, c, e) for e, c in exts],
    )
    return builder.sign(ca.signing_key, ca.hash_algorithm)


def ours(monkeypatch, key, profile, ca, serial, not_before, not_after) -> x509.Certificate:
    monkeypatch.setattr(issue, "serial_number", lambda: serial)
    return issue._sign(key, profile, ca, not_before, not_after)


def assert_same(mine: x509.Certificate, theirs: x509.Certificate, ca) -> None:
    assert mine.tbs_certificate_bytes == theirs.tbs_certificate_bytes
    if isinstance(ca.signing_key, ec.EllipticCurvePrivateKey):
        mine.verify_directly_issued_by(ca.issuer_cert)
        assert mine.signature_algorithm_oid == theirs.signature_algorithm_oid
    else:
        assert mine.public_bytes(Encoding.DER) == theirs.public_bytes(Encoding.DER)


@pytest.mark.parametrize("ca_kind", ["ed25519", "p256", "p384", "p521", "rsa3072"])
@pytest.mark.parametrize("leaf_kind", certs.SUBJECT_KEY_KINDS)
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_byte_for_byte_what_the_builder_writes(monkeypatch, rsa_keys, ca_kind, leaf_kind, profile):
    ca = certs.root_ca(certs.subject_key(ca_kind, rsa_keys))
    key = certs.subject_key(leaf_kind, rsa_keys).public_key()
    args = (key, PROFILES[profile], ca, 2**127 - 1, NB, NB + dt.timedelta(hours=24))
    assert_same(ours(monkeypatch, *args), reference(*args), ca)


@pytest.mark.parametrize("serial", [1, 0x7F, 0x80, 0xFF, 0x100, 2**64, 2**126 + 3, 2**127 - 1])
@pytest.mark.parametrize(
    "not_before",
    [
        NB,
        dt.datetime(2049, 12, 31, 12, 0, 0, tzinfo=dt.UTC),  # notAfter in 2050: GeneralizedTime
        dt.datetime(1950, 1, 1, 0, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2060, 6, 30, 23, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 1, 5, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))),
    ],
)
def test_serials_and_times_of_every_encoding(monkeypatch, serial, not_before):
    ca = certs.with_intermediate(certs.root_ca())
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    args = (key, PROFILES["dns"], ca, serial, not_before, not_before + dt.timedelta(hours=24))
    mine = ours(monkeypatch, *args)
    assert_same(mine, reference(*args), ca)
    assert mine.serial_number == serial
    assert mine.issuer == ca.issuer_cert.subject


@pytest.mark.parametrize("kind", certs.SUBJECT_KEY_KINDS)
def test_subject_key_identifier_is_rfc5280_method_1(rsa_keys, kind):
    key = certs.subject_key(kind, rsa_keys).public_key()
    info = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    ext = x509.SubjectKeyIdentifier.from_public_key(key)
    assert leafder.subject_key_identifier_extension(info) == leafder.extension(ext, critical=False)


@pytest.mark.parametrize("size", [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000])
def test_lengths_use_the_shortest_definite_form(size):
    der = leafder.tlv(0x04, b"\x00" * size)
    assert x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3"), der).value == der
    head = der[: len(der) - size]
    assert head[0] == 0x04
    if size < 0x80:
        assert head[1:] == bytes([size])
    else:
        assert head[1] == 0x80 | (len(head) - 2)
        assert int.from_bytes(head[2:], "big") == size


def test_a_ca_key_it_cannot_sign_with_is_refused_by_name():
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ValueError, match="needs a hash algorithm"):
        leafder.signer_for(key, None, certs.name("x"), certs.root_ca().authority_key_identifier)
