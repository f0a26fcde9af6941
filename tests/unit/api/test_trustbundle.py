from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from meshtool.api import MalformedObject, trustbundle
from meshtool.clock import FakeClock
from meshtool.pki import capool, pem


@pytest.fixture(scope="module")
def roots() -> list[bytes]:
    clock = FakeClock()
    return [
        capool.generate_ca(ca_id=str(i), name="test", clock=clock).root.public_bytes(
            serialization.Encoding.DER
        )
        for i in range(2)
    ]


def test_bundle_name() -> None:
    assert trustbundle.bundle_name("row-major.net/spiffe") == "row-major.net:spiffe:primary-bundle"
    assert trustbundle.bundle_name("example.com/a/b", "next") == "example.com:a:b:next"


@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1", "v1"])
def test_ctb_body(version: str) -> None:
    labels = {"spiffe.row-major.net/canarying": "live"}
    body = trustbundle.ctb_body(
        version=version,
        name="row-major.net:spiffe:primary-bundle",
        signer_name="row-major.net/spiffe",
        labels=labels,
        pem="PEM",
    )
    assert body == {
        "apiVersion": f"certificates.k8s.io/{version}",
        "kind": "ClusterTrustBundle",
        "metadata": {"name": "row-major.net:spiffe:primary-bundle", "labels": labels},
        "spec": {"signerName": "row-major.net/spiffe", "trustBundle": "PEM"},
    }
    assert body["metadata"]["labels"] is not labels


def test_ctb_body_rejects_unknown_versions() -> None:
    with pytest.raises(ValueError, match="v2"):
        trustbundle.ctb_body(version="v2", name="n", signer_name="s/x", labels={}, pem="")


def test_trust_bundle_pem_dedups_in_first_seen_order(roots: list[bytes]) -> None:
    a, b = roots
    text = trustbundle.trust_bundle_pem([b, a, b, a])
    assert [c.public_bytes(serialization.Encoding.DER) for c in _load(text)] == [b, a]
    assert text == trustbundle.trust_bundle_pem(iter([b, a]))
    assert trustbundle.certificates_der(text) == [b, a]
    assert all(len(line) <= 64 for line in text.splitlines())
    assert "\n\n" not in text and text.endswith("-----\n")
    assert trustbundle.trust_bundle_pem([]) == ""


def _load(text: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(text.encode())


def test_pem_encoding_round_trips(roots: list[bytes]) -> None:
    block = pem.encode_block("CERTIFICATE", roots[0])
    assert pem.scan("junk\n" + block + "more junk") == (pem.Scanned("CERTIFICATE", roots[0]),)


def test_pem_flags_bad_bodies_and_headers() -> None:
    text = (
        "-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n"
        "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END CERTIFICATE-----\n"
    )
    first, second = pem.scan(text)
    assert first.der is None
    assert second == pem.Scanned("CERTIFICATE", b"\x00\x00\x00", has_headers=True)


def _ctb(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "certificates.k8s.io/v1beta1",
        "kind": "ClusterTrustBundle",
        "metadata": {
            "name": "row-major.net:spiffe:primary-bundle",
            "resourceVersion": "12",
            "labels": {"spiffe.row-major.net/canarying": "live"},
        },
        "spec": {"signerName": "row-major.net/spiffe", "trustBundle": "PEM"},
    }
    obj.update(overrides)
    return obj


def test_parse() -> None:
    assert trustbundle.parse(_ctb()) == trustbundle.TrustBundle(
        name="row-major.net:spiffe:primary-bundle",
        signer_name="row-major.net/spiffe",
        labels={"spiffe.row-major.net/canarying": "live"},
        pem="PEM",
        resource_version="12",
    )


def test_parse_without_signer_or_labels() -> None:
    parsed = trustbundle.parse(_ctb(metadata={"name": "plain"}, spec={"trustBundle": "PEM"}))
    assert (parsed.signer_name, parsed.labels, parsed.resource_version) == ("", {}, "")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"metadata": None}, "metadata"),
        ({"metadata": {}}, "metadata.name"),
        ({"spec": None}, "spec"),
        ({"spec": {"trustBundle": 5}}, "spec.trustBundle"),
        ({"spec": {"signerName": ["x"]}}, "spec.signerName"),
        ({"metadata": {"name": "n", "labels": {"a": 1}}}, "metadata.labels"),
        ({"metadata": {"name": "n", "resourceVersion": 3}}, "metadata.resourceVersion"),
    ],
)
def test_parse_malformed(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(MalformedObject, match=f"^ClusterTrustBundle .*: {field}:"):
        trustbundle.parse(_ctb(**overrides))
