from __future__ import annotations

import contextlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from meshtool.pki import podidentity

from . import certs

IDENTITY = podidentity.PodIdentity(
    namespace="ns",
    service_account_name="sa",
    service_account_uid="u1",
    pod_name="p",
    pod_uid="u2",
    node_name="n",
    node_uid="u3",
)
# Go's asn1.Marshal(podIdentityASN1{...}) output for IDENTITY (produced with go1.26): a SEQUENCE
# of UTF8Strings.
IDENTITY_DER = bytes.fromhex(
    "301a"
    "0c026e73"  # "ns"
    "0c027361"  # "sa"
    "0c027531"  # "u1"
    "0c0170"  # "p"
    "0c027532"  # "u2"
    "0c016e"  # "n"
    "0c027533"  # "u3"
)


def test_encode_matches_go() -> None:
    assert podidentity.encode(IDENTITY) == IDENTITY_DER


def test_decode() -> None:
    assert podidentity.decode(IDENTITY_DER) == IDENTITY


def test_long_form_and_unicode_match_go() -> None:
    identity = podidentity.PodIdentity("n" * 200, "", "ß", "", "😀", "", "")
    go = bytes.fromhex("3081dd0c81c8" + "6e" * 200 + "0c000c02c39f0c000c04f09f98800c000c00")

    assert podidentity.encode(identity) == go
    assert podidentity.decode(go) == identity


def test_oid_and_extension() -> None:
    assert podidentity.OID.dotted_string == "1.3.6.1.4.1.57683.1"
    ext = podidentity.extension(IDENTITY)
    assert ext == x509.UnrecognizedExtension(podidentity.OID, IDENTITY_DER)


def test_as_dict() -> None:
    assert IDENTITY.as_dict() == {
        "namespace": "ns",
        "service_account_name": "sa",
        "service_account_uid": "u1",
        "pod_name": "p",
        "pod_uid": "u2",
        "node_name": "n",
        "node_uid": "u3",
    }


@pytest.mark.parametrize("size", [127, 128, 255, 256, 70000])
def test_long_form_lengths(size: int) -> None:
    identity = podidentity.PodIdentity("n" * size, "", "", "", "", "", "")

    der = podidentity.encode(identity)

    assert podidentity.decode(der) == identity
    assert bytes((0x0C, 0x80 | ((size.bit_length() + 7) // 8))) in der if size >= 128 else True


def test_empty_fields_and_unicode() -> None:
    identity = podidentity.PodIdentity("", "ß", "", "😀", "", "", "")

    assert podidentity.decode(podidentity.encode(identity)) == identity


def test_decode_accepts_printable_and_ia5_strings_and_extra_elements() -> None:
    body = bytes.fromhex("1302 6e73 1602 7361") + IDENTITY_DER[10:] + bytes.fromhex("0201 05")
    der = bytes((0x30, len(body))) + body

    assert podidentity.decode(der) == IDENTITY


def _sequence(body: bytes) -> bytes:
    return bytes((0x30, len(body))) + body


@pytest.mark.parametrize(
    ("der", "message"),
    [
        (b"", "truncated element"),
        (b"\x30", "truncated element"),
        (b"\x31\x00", "not a SEQUENCE"),
        (IDENTITY_DER + b"\x00", "trailing data after the SEQUENCE"),
        (IDENTITY_DER[:-1], "truncated element"),
        (_sequence(IDENTITY_DER[2:-4]), "6 fields, want 7"),
        (_sequence(b""), "0 fields, want 7"),
        (b"\x30\x80" + IDENTITY_DER[2:] + b"\x00\x00", "bad length"),
        (b"\x30\x81\x1a" + IDENTITY_DER[2:], "not in minimal DER form"),
        (b"\x30\x82\x00\x1a" + IDENTITY_DER[2:], "not in minimal DER form"),
        (b"\x30\x85\x00\x00\x00\x00\x19", "bad length"),
        (_sequence(b"\x0c\x02\xff\xfe" + IDENTITY_DER[6:]), "namespace: not valid UTF-8"),
        (_sequence(b"\x02\x01\x05" + IDENTITY_DER[6:]), "namespace: not a UTF8String"),
        (_sequence(b"\x13\x01*" + IDENTITY_DER[6:]), "namespace: not a valid PrintableString"),
        (_sequence(b"\x16\x01\xff" + IDENTITY_DER[6:]), "namespace: not a UTF8String"),
    ],
)
def test_decode_rejects(der: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        podidentity.decode(der)


def test_from_certificate() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    plain = certs.make_cert(key=key, subject=certs.name("x"))
    builder = x509.CertificateBuilder(
        issuer_name=certs.name("x"),
        subject_name=certs.name("x"),
        public_key=key.public_key(),
        serial_number=1,
        not_valid_before=certs.NOW,
        not_valid_after=certs.NOW.replace(year=2027),
    )
    with_identity = builder.add_extension(podidentity.extension(IDENTITY), critical=False).sign(
        key, None
    )
    broken = builder.add_extension(
        x509.UnrecognizedExtension(podidentity.OID, b"\x05\x00"), critical=False
    )

    assert podidentity.from_certificate(plain) is None
    assert podidentity.from_certificate(with_identity) == IDENTITY
    with pytest.raises(ValueError, match="not a SEQUENCE"):
        podidentity.from_certificate(broken.sign(key, None))


FIELD_TEXT = st.text(max_size=200)


@settings(max_examples=200, deadline=None)
@given(st.builds(podidentity.PodIdentity, *[FIELD_TEXT] * 7))
def test_round_trip(identity: podidentity.PodIdentity) -> None:
    assert podidentity.decode(podidentity.encode(identity)) == identity


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_decode_raises_only_value_error_on_random_bytes(data: bytes) -> None:
    _decode_or_reject(data)
    _decode_or_reject(b"\x30" + data)
    _decode_or_reject(_sequence(data[:127]))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(IDENTITY_DER)), st.binary(max_size=3))
def test_decode_raises_only_value_error_on_damaged_input(cut: int, junk: bytes) -> None:
    _decode_or_reject(IDENTITY_DER[:cut] + junk + IDENTITY_DER[cut + len(junk) :])


def _decode_or_reject(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        podidentity.decode(data)
