"""The bundle endpoint's routes: what each path answers, rendered from published bundles."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from meshtool.api import anchorpaths, spiffebundle, trustbundle
from meshtool.app import bundleroutes
from meshtool.clock import FakeClock
from meshtool.pki import capool, pem

SPIFFE = "row-major.net/spiffe"
DNS = "row-major.net/service-dns"
SEQ = "spiffe.row-major.net/bundle-sequence"
NOW = dt.datetime.now(dt.UTC)
ROUTES = bundleroutes.Routes(
    spiffe_signer=SPIFFE, signers=(SPIFFE, DNS), sequence_annotation=SEQ, refresh_hint=300
)


def roots(*ids: str, name: str = SPIFFE):
    clock = FakeClock(NOW)
    return [capool.new_pool(ca_id=i, name=name, clock=clock).cas[0].root for i in ids]


def published(signer: str, certs, seq: str | None = "3") -> trustbundle.TrustBundle:
    return trustbundle.TrustBundle(
        name=trustbundle.bundle_name(signer),
        signer_name=signer,
        pem=trustbundle.trust_bundle_pem(c.public_bytes(Encoding.DER) for c in certs),
        annotations={SEQ: seq} if seq is not None else {},
    )


def lookup(*bundles: trustbundle.TrustBundle):
    return {b.signer_name: b for b in bundles}.get


def test_root_serves_the_spiffe_bundle_with_sequence_and_refresh_hint():
    certs = roots("1", "2")
    answer = bundleroutes.answer(ROUTES, "GET", "/", lookup(published(SPIFFE, certs)))
    assert (answer.status, answer.content_type, answer.sequence) == (200, "application/json", 3)
    bundle = spiffebundle.parse(answer.body, now=NOW)
    assert list(bundle.x509_authorities) == certs
    assert (bundle.sequence, bundle.refresh_hint) == (3, 300)


def test_same_bundle_same_bytes():
    one = bundleroutes.answer(ROUTES, "GET", "/", lookup(published(SPIFFE, roots("1"))))
    other = published(SPIFFE, spiffebundle.parse(one.body, now=NOW).x509_authorities)
    assert bundleroutes.answer(ROUTES, "GET", "/", lookup(other)).body == one.body


def test_missing_sequence_is_left_out():
    answer = bundleroutes.answer(ROUTES, "GET", "/", lookup(published(SPIFFE, roots("1"), None)))
    assert answer.status == 200 and spiffebundle.parse(answer.body, now=NOW).sequence is None


@pytest.mark.parametrize("signer", [SPIFFE, DNS])
def test_anchors_as_pkcs7_and_pem(signer):
    certs = roots("1", "2", name=signer)
    found = lookup(published(signer, certs))
    p7c = bundleroutes.answer(ROUTES, "GET", anchorpaths.path(signer, "p7c"), found)
    assert (p7c.status, p7c.content_type) == (200, "application/pkcs7-mime")
    # A SET OF in DER: the certificates come back sorted by their encoding.
    assert _ders(pkcs7.load_der_pkcs7_certificates(p7c.body)) == _ders(certs)
    as_pem = bundleroutes.answer(ROUTES, "GET", anchorpaths.path(signer, "pem"), found)
    assert (as_pem.status, as_pem.content_type) == (200, "application/x-pem-file")
    assert list(pem.certificates(as_pem.body)) == certs


@pytest.mark.parametrize(
    ("method", "path", "status", "path_class"),
    [
        ("GET", "/healthz", 200, "healthz"),
        ("HEAD", "/", 200, "bundle"),
        ("POST", "/", 405, "bundle"),
        ("DELETE", "/nope", 405, "other"),
        ("GET", "/nope", 404, "other"),
        ("GET", anchorpaths.path("row-major.net/pod-identity"), 404, "anchors"),
        ("GET", anchorpaths.path("example.com/other"), 404, "anchors"),
        ("GET", "/.well-known/meshtool/signers/row-major.net/spiffe/anchors.der", 404, "other"),
    ],
)
def test_status_codes(method, path, status, path_class):
    answer = bundleroutes.answer(ROUTES, method, path, lookup(published(SPIFFE, roots("1"))))
    assert (answer.status, answer.path_class) == (status, path_class)
    if status == 405:
        assert answer.headers["Allow"] == "GET, HEAD"


def _ders(certs):
    return sorted(c.public_bytes(Encoding.DER) for c in certs)


@pytest.mark.parametrize("path", ["/", anchorpaths.path(SPIFFE, "p7c"), anchorpaths.path(DNS)])
def test_unpublished_bundle_is_503(path):
    answer = bundleroutes.answer(ROUTES, "GET", path, lookup())
    assert answer.status == 503 and b"not published yet" in answer.body


def test_unreadable_bundle_is_503():
    broken = trustbundle.TrustBundle(
        trustbundle.bundle_name(SPIFFE), SPIFFE, pem="-----BEGIN CERTIFICATE-----\nAAAA\n"
    )
    assert bundleroutes.answer(ROUTES, "GET", "/", lookup(broken)).status == 503


def test_head_has_the_headers_of_get_and_no_body():
    found = lookup(published(SPIFFE, roots("1")))
    get = bundleroutes.answer(ROUTES, "GET", "/", found)
    wire = bundleroutes.encode(bundleroutes.answer(ROUTES, "HEAD", "/", found), "HEAD")
    assert wire.endswith(b"\r\n\r\n") and f"Content-Length: {len(get.body)}".encode() in wire
