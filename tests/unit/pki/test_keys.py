"""One name for every key, in the Kubernetes key-type vocabulary, and its fingerprint."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519

from meshtool.pki import keys


@pytest.mark.parametrize(
    ("key", "name"),
    [
        (ed25519.Ed25519PrivateKey.generate(), "ED25519"),
        (ed448.Ed448PrivateKey.generate(), "Ed448"),
        (x25519.X25519PrivateKey.generate(), "X25519"),
        (x448.X448PrivateKey.generate(), "X448"),
        (ec.generate_private_key(ec.SECP256R1()), "ECDSAP256"),
        (ec.generate_private_key(ec.SECP384R1()), "ECDSAP384"),
        (ec.generate_private_key(ec.SECP521R1()), "ECDSAP521"),
        (ec.generate_private_key(ec.SECP256K1()), "ECDSA secp256k1"),
    ],
)
def test_key_type(key: Any, name: str) -> None:
    assert keys.describe(key) == name
    assert keys.describe(key.public_key()) == name


def test_key_type_rsa(rsa_keys: dict[int, rsa.RSAPrivateKey]) -> None:
    assert keys.classify(rsa_keys[3072]) is keys.KeyType.RSA3072
    assert keys.describe(rsa_keys[3072]) == "RSA3072"
    assert keys.describe(rsa_keys[4096].public_key()) == "RSA4096"


def test_fingerprint_is_sha256_of_the_spki() -> None:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    assert keys.fingerprint(public) == "SHA256:" + hashlib.sha256(spki).hexdigest()
