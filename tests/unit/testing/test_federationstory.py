"""The federation story's pure parts: the report, the X.509 check that keeps trust domains
apart, and reading the example clients' output."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from meshtool.testing import federationstory
from meshtool.testing.federationstory import Report
from meshtool.testing.spiffeapps import CallResult

NOW = dt.datetime.now(dt.UTC)


def _ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _svid(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], uri: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    ca_key, ca_cert = ca
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def test_verifies_only_against_the_issuing_trust_domains_anchors():
    east, west = _ca("east.test"), _ca("west.test")
    leaf = _svid(east, "spiffe://east.test/ns/federation/sa/client")
    assert federationstory.verifies((leaf,), _pem(east[1]))
    assert not federationstory.verifies((leaf,), _pem(west[1]))
    assert not federationstory.verifies((leaf,), b"")  # a de-federated (empty) bundle file


def test_the_report_passes_only_with_checks_that_all_passed():
    report = Report()
    assert not report.passed  # nothing checked is no pass
    report.fact("east", "trust domain east.test")
    report.fact("mTLS call", "200")
    assert report.check("first", True) is True
    assert report.passed
    report.check("second", False)
    assert not report.passed
    assert report.lines() == [
        "east:      trust domain east.test",
        "mTLS call: 200",
        "ok   first",
        "FAIL second",
    ]


def test_the_clients_output():
    out = (
        "2026-12-02 03:38:12,615 INFO meshtool.demo.client: GET https://s.svc/spiffe-echo: 200 "
        "Client Identity: spiffe://east.test/ns/f/sa/client\n"
    )
    assert federationstory._request_line(out).startswith("GET https://s.svc/spiffe-echo: 200")
    assert CallResult(0, out).echoed() == ["spiffe://east.test/ns/f/sa/client"]
    assert CallResult(0, out).ok and not CallResult(1, "").ok
    refused = "meshtool: error: no trust bundle for trust domain 'west.test'\n\n"
    assert federationstory._request_line(refused) == refused.strip()
    assert federationstory._last_line("") == "(no output)"


def test_a_leaf_is_described_by_its_id_and_issuer_url():
    east = _ca("east.test")
    leaf = _svid(east, "spiffe://east.test/ns/f/sa/client")
    assert federationstory._describe_leaf(leaf) == (
        "spiffe://east.test/ns/f/sa/client (no caIssuers URL)"
    )
