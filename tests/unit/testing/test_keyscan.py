"""The key scanner finds private keys in every encoding we look for, pieces of them included,
and never mistakes public material (certificates, SPKI, pool certificates) for a leak."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from meshtool.clock import SystemClock
from meshtool.pki import capool
from meshtool.testing import keyscan

KEYS = {
    "ed25519": ed25519.Ed25519PrivateKey.generate(),
    "p256": ec.generate_private_key(ec.SECP256R1()),
    "rsa": rsa.generate_private_key(65537, 2048),
}


def pem_of(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def scanner() -> keyscan.KeyScanner:
    found = keyscan.KeyScanner()
    for label, key in KEYS.items():
        found.add_key(label, key)
    return found


@pytest.mark.parametrize("label", sorted(KEYS))
def test_finds_each_encoding_and_pieces(scanner, label):
    key = KEYS[label]
    der = keyscan.pkcs8(key)
    raw = keyscan.raw_secrets(key)[0]
    at = der.index(raw)
    texts = {
        "PKCS#8 base64": f"msg={base64.b64encode(der).decode()} end",
        "PKCS#8 base64url": base64.urlsafe_b64encode(der).decode(),
        "PKCS#8 hex": f"'{der.hex()}'",
        "raw hex": f"scalar {raw.hex()}",
        "raw base64": base64.b64encode(raw).decode(),
        # a piece of the secret's bytes cut at an odd byte, inside a JSON-escaped PEM line
        # (cut where the secret is: for RSA the first bytes are structure and the public n)
        "PKCS#8 base64 (piece)": json.dumps(base64.b64encode(der[at + 1 : at + 34]).decode()),
    }
    for form, text in texts.items():
        leaks = scanner.scan("log", text)
        assert any(leak.secret == label for leak in leaks), (form, leaks)


def test_any_pem_private_key_block_is_a_leak():
    text = "error: " + pem_of(ec.generate_private_key(ec.SECP384R1())).replace("\n", "\\n")
    leaks = keyscan.KeyScanner().scan("events", text)
    assert [leak.form for leak in leaks] == ["-----BEGIN PRIVATE KEY-----"]


@pytest.mark.parametrize("label", sorted(KEYS))
def test_public_material_is_not_a_leak(scanner, label):
    key = KEYS[label]
    spki = keyscan.spki(key)
    sibling = keyscan.pkcs8(keyscan.sibling(key))
    texts = [
        base64.b64encode(spki).decode(),
        spki.hex(),
        base64.b64encode(sibling).decode(),  # the same ASN.1 structure, another key
    ]
    assert [scanner.scan("log", t) for t in texts] == [[], [], []]


def test_pool_keys_and_secret_data_but_not_its_certificates():
    pool = capool.new_pool(ca_id="1", name="row-major.net/spiffe", clock=SystemClock())
    data = capool.dump(pool)
    scanner = keyscan.KeyScanner()
    scanner.add_pool("spiffe", data)
    secret_data = base64.b64encode(data).decode()
    leaks = scanner.scan("events", f'{{"data":{{"pool":"{secret_data}"}}}}')
    assert {leak.form for leak in leaks} == {"Secret data base64"}
    assert {leak.form for leak in scanner.scan("log", data.decode())} == {"PKCS#8 base64"}
    cert_only = base64.b64encode(json.loads(data)["CAs"][0]["RootCertificateDER"].encode())
    assert scanner.scan("log", cert_only.decode()) == []
    assert scanner.scan("log", json.loads(data)["CAs"][0]["RootCertificateDER"]) == []


def test_pem_keys_of_a_credential_bundle():
    scanner = keyscan.KeyScanner()
    assert scanner.add_pem_keys("kubelet", pem_of(KEYS["p256"]).encode()) == 1
    raw = keyscan.raw_secrets(KEYS["p256"])[0]
    assert scanner.scan("log", raw.hex())[0].secret == "kubelet key 1"
