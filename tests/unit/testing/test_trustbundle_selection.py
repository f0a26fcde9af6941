"""Which ClusterTrustBundles a clusterTrustBundle projection selects, and the merged file."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meshtool.pki import pem
from meshtool.testing import trustbundles

SIGNER = "example.com/mesh"


def ca_pem(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


CA1, CA2, CA3 = ca_pem("ca1"), ca_pem("ca2"), ca_pem("ca3")


def ctb(name: str, pem: str, signer: str | None = SIGNER, **labels: str) -> dict:
    spec = {"trustBundle": pem} | ({"signerName": signer} if signer else {})
    return {"metadata": {"name": name, "labels": labels}, "spec": spec}


BUNDLES = [
    ctb("example.com:mesh:b", CA2 + CA1, tier="b"),
    ctb("example.com:mesh:a", CA1, tier="a", extra="yes"),
    ctb("example.com:other:c", CA3, signer="example.com/other", tier="a"),
    ctb("plain", CA3, signer=None),
]


def names(source: dict) -> list[str]:
    return [b["metadata"]["name"] for b in trustbundles.selected(source, BUNDLES)]


def test_by_name():
    assert names({"name": "plain"}) == ["plain"]
    assert names({"name": "missing"}) == []


def test_unset_selector_matches_nothing():
    assert names({"signerName": SIGNER}) == []


def test_empty_selector_matches_all_of_the_signer():
    assert names({"signerName": SIGNER, "labelSelector": {}}) == [
        "example.com:mesh:a",
        "example.com:mesh:b",
    ]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"tier": "a"}}, ["example.com:mesh:a"]),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "z"]}]},
            ["example.com:mesh:b"],
        ),
        (
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["b"]}]},
            ["example.com:mesh:a"],
        ),
        (
            {"matchExpressions": [{"key": "extra", "operator": "NotIn", "values": ["yes"]}]},
            ["example.com:mesh:b"],
        ),  # NotIn matches objects without the key
        ({"matchExpressions": [{"key": "extra", "operator": "Exists"}]}, ["example.com:mesh:a"]),
        (
            {"matchExpressions": [{"key": "extra", "operator": "DoesNotExist"}]},
            ["example.com:mesh:b"],
        ),
        (
            {
                "matchLabels": {"tier": "a"},
                "matchExpressions": [{"key": "extra", "operator": "DoesNotExist"}],
            },
            [],
        ),
    ],
)
def test_selector_semantics(selector, expected):
    assert names({"signerName": SIGNER, "labelSelector": selector}) == expected


def test_unknown_operator_is_an_error():
    selector = {"matchExpressions": [{"key": "tier", "operator": "Gt", "values": ["1"]}]}
    with pytest.raises(ValueError):
        trustbundles.selected({"signerName": SIGNER, "labelSelector": selector}, BUNDLES)


def test_merge_dedups_by_der_in_first_seen_order():
    content = trustbundles.render({"signerName": SIGNER, "labelSelector": {}}, BUNDLES)
    assert content is not None
    ders = [block.der for block in pem.blocks(content)]
    assert ders == [block.der for block in pem.blocks(CA1 + CA2)]
    assert content.count(b"BEGIN CERTIFICATE") == 2


def test_nothing_selected_blocks_unless_optional():
    assert trustbundles.render({"name": "missing"}, BUNDLES) is None
    assert trustbundles.render({"name": "missing", "optional": True}, BUNDLES) == b""
    assert trustbundles.render({"signerName": SIGNER, "optional": True}, BUNDLES) == b""
