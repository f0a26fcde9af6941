from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api import wireforms as wf
from meshtool.api import keys
from meshtool.api.types import KeySource, KeyType


@pytest.mark.parametrize("key_type", wf.KEY_TYPES, ids=lambda k: k.value)
def test_classify_and_describe_the_six_types(key_type: KeyType) -> None:
    public = wf.private_key(key_type).public_key()
    assert keys.classify(public) is key_type
    assert keys.describe(public) == key_type.value


@pytest.mark.parametrize(
    ("kind", "described"),
    [("RSA2048", "RSA2048"), ("Ed448", "Ed448"), ("secp256k1", "ECDSA secp256k1")],
)
def test_unsupported_types_are_unclassified_but_named(kind: str, described: str) -> None:
    public = wf.private_key(kind).public_key()
    assert keys.classify(public) is None
    assert keys.describe(public) == described


@pytest.mark.parametrize("key_type", wf.KEY_TYPES, ids=lambda k: k.value)
def test_stub_and_pkix_give_the_same_key(key_type: KeyType) -> None:
    key = wf.private_key(key_type)
    from_stub = keys.from_stub(wf.b64(wf.stub_csr_der(key)))
    from_pkix = keys.from_pkix(wf.b64(wf.pkix_der(key)))
    assert from_stub.source is KeySource.STUB_PKCS10
    assert from_pkix.source is KeySource.PKIX
    assert from_stub.public_key is not None and from_pkix.public_key is not None
    assert keys.spki_der(from_stub.public_key) == keys.spki_der(from_pkix.public_key)


def test_missing() -> None:
    info = keys.missing("no key")
    assert (info.source, info.public_key, info.key_type, info.error) == (None, None, None, "no key")


def _check_garbage(info: keys.KeyInfo) -> None:
    if info.public_key is None:
        assert info.error and info.key_type is None
    else:
        assert info.error is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data: bytes) -> None:
    encoded = base64.b64encode(data).decode()
    _check_garbage(keys.from_stub(encoded))
    _check_garbage(keys.from_pkix(encoded))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([*wf.KEY_TYPES, *wf.UNSUPPORTED]),
    st.sampled_from(["stub", "pkix"]),
    st.integers(min_value=0, max_value=2000),
    st.binary(max_size=8),
)
def test_truncated_and_corrupted_keys_never_raise(
    kind: KeyType | str, form: str, cut: int, tail: bytes
) -> None:
    key = wf.private_key(kind)
    der = wf.stub_csr_der(key) if form == "stub" else wf.pkix_der(key)
    encoded = base64.b64encode(der[:cut] + tail).decode()
    _check_garbage(keys.from_stub(encoded) if form == "stub" else keys.from_pkix(encoded))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_random_text_is_never_an_exception(text: str) -> None:
    _check_garbage(keys.from_stub(text))
    _check_garbage(keys.from_pkix(text))
