from __future__ import annotations

import base64
import contextlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from meshtool.pki import pem

from . import certs

ROOT_KEY = ed25519.Ed25519PrivateKey.generate()
ROOT = certs.make_cert(key=ROOT_KEY, subject=certs.name("root"))
LEAF_KEY = ec.generate_private_key(ec.SECP256R1())
LEAF = certs.make_cert(
    key=LEAF_KEY, subject=certs.name("leaf"), issuer_key=ROOT_KEY, issuer=ROOT.subject, ca=False
)
ROOT_PEM = pem.encode([ROOT])
LEAF_PEM = pem.encode([LEAF])


def key_pem(key: Any, encryption: Any = None) -> str:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    )
    return data.decode("ascii")


def block(kind: str, body: bytes) -> str:
    return f"-----BEGIN {kind}-----\n{base64.b64encode(body).decode()}\n-----END {kind}-----\n"


# --- blocks ----------------------------------------------------------------------------------


def test_blocks_ignore_text_between_blocks() -> None:
    data = f"subject=leaf\n{LEAF_PEM}\n\n  garbage -----\n{ROOT_PEM}trailing"

    found = pem.blocks(data)

    der = serialization.Encoding.DER
    assert found == (
        pem.Block("CERTIFICATE", LEAF.public_bytes(der)),
        pem.Block("CERTIFICATE", ROOT.public_bytes(der)),
    )


def test_blocks_accept_bytes_crlf_and_indentation() -> None:
    data = ("  " + LEAF_PEM.replace("\n", "\r\n  ")).encode("ascii")

    assert pem.certificates(data) == (LEAF,)


def test_blocks_drop_rfc1421_headers() -> None:
    body = base64.b64encode(b"\x01\x02").decode()
    data = (
        f"-----BEGIN THING-----\nProc-Type: 4,CRYPT\nDEK-Info: x\n\n{body}\n-----END THING-----\n"
    )

    assert pem.blocks(data) == (pem.Block("THING", b"\x01\x02"),)


def test_no_blocks() -> None:
    assert pem.blocks("just text") == ()
    assert pem.blocks(b"") == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("-----BEGIN CERTIFICATE-----\nAAAA\n", "PEM block 1 (CERTIFICATE): no END line"),
        ("-----BEGIN A-----\nAAAA\n-----END B-----\n", "PEM block 1 (A): mismatched END line"),
        ("-----BEGIN A-----\nA*AA\n-----END A-----\n", "PEM block 1 (A): not valid base64"),
        ("-----BEGIN A-----\nAAA\n-----END A-----\n", "PEM block 1 (A): not valid base64"),
        ("-----BEGIN A-----\n-----END A-----\n", "PEM block 1 (A): empty"),
        ("-----BEGIN A-----\nk: v\nAAAA\n-----END A-----\n", "PEM block 1 (A): empty"),
    ],
)
def test_blocks_reject(data: str, message: str) -> None:
    with pytest.raises(pem.PemError) as caught:
        pem.blocks(data)

    assert str(caught.value) == message


# --- certificates ----------------------------------------------------------------------------


def test_certificates_in_order() -> None:
    assert pem.certificates(LEAF_PEM + ROOT_PEM) == (LEAF, ROOT)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "no PEM blocks found"),
        (LEAF_PEM + key_pem(LEAF_KEY), "PEM block 2 is PRIVATE KEY, expected CERTIFICATE"),
        (
            block("CERTIFICATE", b"\x30\x03\x02\x01\x01"),
            "PEM block 1: not a valid X.509 certificate",
        ),
    ],
)
def test_certificates_reject(data: str, message: str) -> None:
    with pytest.raises(pem.PemError) as caught:
        pem.certificates(data)

    assert str(caught.value) == message


def test_encode_round_trips() -> None:
    assert pem.certificates(pem.encode((LEAF, ROOT))) == (LEAF, ROOT)


# --- credential bundles ----------------------------------------------------------------------


def test_credential_bundle() -> None:
    bundle = pem.credential(key_pem(LEAF_KEY) + LEAF_PEM + ROOT_PEM)

    assert bundle.key.public_key() == LEAF_KEY.public_key()
    assert bundle.chain == (LEAF, ROOT)


def test_credential_bundle_key_may_come_later() -> None:
    assert pem.credential(LEAF_PEM + key_pem(LEAF_KEY)).chain == (LEAF,)


NOT_PKCS8 = "PEM block 1: not an unencrypted PKCS#8 private key"
ENCRYPTED = key_pem(LEAF_KEY, serialization.BestAvailableEncryption(b"pw"))
ENCRYPTED_AS_PLAIN = ENCRYPTED.replace("ENCRYPTED ", "")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (LEAF_PEM, "expected one PRIVATE KEY block, found 0"),
        (key_pem(LEAF_KEY) * 2 + LEAF_PEM, "expected one PRIVATE KEY block, found 2"),
        (key_pem(LEAF_KEY), "no CERTIFICATE blocks found"),
        (key_pem(LEAF_KEY) + LEAF_PEM + block("X", b"x"), "unexpected PEM block type X"),
        (key_pem(ROOT_KEY) + LEAF_PEM, "the private key does not match the leaf certificate"),
        (block("PRIVATE KEY", b"\x30\x00") + LEAF_PEM, NOT_PKCS8),
        (ENCRYPTED_AS_PLAIN + LEAF_PEM, NOT_PKCS8),
    ],
)
def test_credential_rejects(data: str, message: str) -> None:
    with pytest.raises(pem.PemError) as caught:
        pem.credential(data)

    assert str(caught.value) == message
    assert caught.value.__cause__ is None


# --- garbage in ------------------------------------------------------------------------------

BUNDLE = (key_pem(LEAF_KEY) + LEAF_PEM + ROOT_PEM).encode("ascii")
PEM_ALPHABET = st.sampled_from(list("-BEGINDCRTFAKYPV \nAQZaz019+/=:"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1024) | st.text(PEM_ALPHABET, max_size=300).map(str.encode))
def test_parsers_raise_only_pem_error_on_garbage(data: bytes) -> None:
    _parse_all(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(BUNDLE)), st.binary(min_size=1, max_size=4))
def test_parsers_raise_only_pem_error_on_damaged_bundles(cut: int, junk: bytes) -> None:
    _parse_all(BUNDLE[:cut])
    _parse_all(BUNDLE[:cut] + junk + BUNDLE[cut + len(junk) :])


def _parse_all(data: bytes) -> None:
    for parse in (pem.blocks, pem.certificates, pem.credential):
        with contextlib.suppress(pem.PemError):
            parse(data)


# Found by tests/unit/pki/test_fuzz_capool.py: OpenSSL refuses this key with InternalError
# (an Ed448 PKCS#8 key of 32 bytes), which is not a ValueError.
ED448_OF_32_BYTES = bytes.fromhex("302e020100300506032b657104220420") + bytes(range(32))


def test_a_key_openssl_cannot_set_up_is_a_pem_error() -> None:
    bundle = pem.encode_block(pem.PRIVATE_KEY, ED448_OF_32_BYTES) + LEAF_PEM
    with pytest.raises(pem.PemError, match="not an unencrypted PKCS#8 private key"):
        pem.credential(bundle)
