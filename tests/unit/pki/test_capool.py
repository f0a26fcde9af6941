from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import pathlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from meshtool.clock import FakeClock
from meshtool.pki import capool

from . import certs

TESTDATA = pathlib.Path(__file__).parent / "testdata"
GO_COMPACT = (TESTDATA / "go_pool_compact.json").read_bytes()
GO_INDENTED = (TESTDATA / "go_pool_indented.json").read_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def der(cert: x509.Certificate) -> str:
    return b64(cert.public_bytes(serialization.Encoding.DER))


def pkcs8(key: Any) -> str:
    return b64(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def wire(*cas: capool.CA) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(capool.dump(capool.CAPool(cas)))
    return value


def load_wire(value: Any, clock: FakeClock) -> capool.CAPool:
    return capool.load(json.dumps(value), clock=clock)


# --- the Go format ---------------------------------------------------------------------------


def test_loads_the_pool_go_writes(clock: FakeClock) -> None:
    pool = capool.load(GO_INDENTED, clock=clock)

    assert [ca.id for ca in pool.cas] == ["1", "2"]
    first, second = pool.cas
    assert isinstance(first.signing_key, ed25519.Ed25519PrivateKey)
    assert first.root.subject == x509.Name([])  # Go's localca roots have an empty subject
    assert first.intermediates == ()
    assert first.issuer_cert is first.root
    assert second.issuer_cert is second.intermediates[0]
    assert second.not_after == dt.datetime(2035, 5, 31, 23, 0, tzinfo=dt.UTC)  # the intermediate's


def test_loads_go_compact_and_indented_alike(clock: FakeClock) -> None:
    compact = capool.load(GO_COMPACT, clock=clock)
    indented = capool.load(GO_INDENTED.decode("utf-8"), clock=clock)

    assert capool.dump(compact) == capool.dump(indented)


def test_dump_of_a_go_pool_is_byte_identical_to_go(clock: FakeClock) -> None:
    assert capool.dump(capool.load(GO_INDENTED, clock=clock)) == GO_COMPACT


def test_absent_intermediates_read_as_none(clock: FakeClock) -> None:
    value = json.loads(GO_INDENTED)
    del value["CAs"][0]["IntermediateCertificatesDER"]

    pool = capool.load(json.dumps(value, indent=4), clock=clock)

    assert pool.cas[0].intermediates == ()


def test_dump_is_compact_with_null_intermediates(clock: FakeClock) -> None:
    pool = capool.new_pool(ca_id="1", name="example.com/a", clock=clock)
    ca = pool.signing_ca

    expected = (
        f'{{"CAs":[{{"ID":"1","SigningKeyPKCS8":"{pkcs8(ca.signing_key)}",'
        f'"RootCertificateDER":"{der(ca.root)}","IntermediateCertificatesDER":null}}]}}'
    )
    assert capool.dump(pool) == expected.encode("ascii")


@pytest.mark.parametrize("key_type", capool.KEY_TYPES)
def test_round_trip_is_byte_identical(clock: FakeClock, key_type: str) -> None:
    ca = certs.with_intermediate(
        capool.generate_ca(ca_id="a", name="n", key_type=key_type, clock=clock)
    )
    pool = capool.CAPool((ca, capool.generate_ca(ca_id="b", name="n", clock=clock)))

    dumped = capool.dump(pool)
    again = capool.dump(capool.load(dumped, clock=clock))

    assert again == dumped
    assert json.loads(dumped)["CAs"][0]["IntermediateCertificatesDER"] == [der(ca.intermediates[0])]


def test_dump_escapes_like_go(clock: FakeClock) -> None:
    ca = certs.root_ca(ca_id="a<b>&c")

    dumped = capool.dump(capool.CAPool((ca,)))

    assert b'"ID":"a\\u003cb\\u003e\\u0026c"' in dumped
    assert capool.load(dumped, clock=clock).signing_ca.id == "a<b>&c"


# --- rejections ------------------------------------------------------------------------------

OTHER_KEY = ed25519.Ed25519PrivateKey.generate()


def set_field(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(pool: dict[str, Any]) -> None:
        pool["CAs"][0][name] = value

    return mutate


def drop_field(name: str) -> Callable[[dict[str, Any]], None]:
    def mutate(pool: dict[str, Any]) -> None:
        del pool["CAs"][0][name]

    return mutate


def non_ca_root(pool: dict[str, Any]) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    pool["CAs"][0]["SigningKeyPKCS8"] = pkcs8(key)
    pool["CAs"][0]["RootCertificateDER"] = der(
        certs.make_cert(key=key, subject=certs.name("x"), ca=False)
    )


def root_without_basic_constraints(pool: dict[str, Any]) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    pool["CAs"][0]["SigningKeyPKCS8"] = pkcs8(key)
    pool["CAs"][0]["RootCertificateDER"] = der(
        certs.make_cert(key=key, subject=certs.name("x"), ca=None)
    )


def non_ca_intermediate(pool: dict[str, Any]) -> None:
    ca = certs.root_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    leafish = certs.make_cert(
        key=key,
        subject=certs.name("i"),
        issuer_key=ca.signing_key,
        issuer=ca.root.subject,
        ca=False,
    )
    pool["CAs"][0].update(
        SigningKeyPKCS8=pkcs8(key),
        RootCertificateDER=der(ca.root),
        IntermediateCertificatesDER=[der(leafish)],
    )


def intermediate_from_elsewhere(pool: dict[str, Any]) -> None:
    stranger = certs.with_intermediate(certs.root_ca())
    pool["CAs"][0].update(
        SigningKeyPKCS8=pkcs8(stranger.signing_key),
        IntermediateCertificatesDER=[der(stranger.intermediates[0])],
    )


def two_intermediates_out_of_order(pool: dict[str, Any]) -> None:
    ca = certs.with_intermediate(certs.with_intermediate(certs.root_ca()))
    pool["CAs"][0].update(
        SigningKeyPKCS8=pkcs8(ca.signing_key),
        RootCertificateDER=der(ca.root),
        IntermediateCertificatesDER=[der(ca.intermediates[1]), der(ca.intermediates[0])],
    )


def root_key_with_intermediate(pool: dict[str, Any]) -> None:
    ca = certs.root_ca()
    chained = certs.with_intermediate(ca)
    pool["CAs"][0].update(
        SigningKeyPKCS8=pkcs8(ca.signing_key),
        RootCertificateDER=der(ca.root),
        IntermediateCertificatesDER=[der(chained.intermediates[0])],
    )


def duplicate_ids(pool: dict[str, Any]) -> None:
    pool["CAs"].append(dict(pool["CAs"][0]))


def unsupported_key(key: Any) -> Callable[[dict[str, Any]], None]:
    return set_field("SigningKeyPKCS8", pkcs8(key))


CA1 = 'CA "1": '
REJECTIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "CAs null": (lambda p: p.update(CAs=None), "pool: CAs: the pool is empty"),
    "CAs missing": (lambda p: p.pop("CAs"), "pool: CAs: the pool is empty"),
    "CAs empty": (lambda p: p.update(CAs=[]), "pool: CAs: the pool is empty"),
    "CAs not a list": (lambda p: p.update(CAs={"ID": "1"}), "pool: CAs: expected a list"),
    "CA not an object": (lambda p: p.update(CAs=["x"]), "CAs[0]: expected a JSON object"),
    "ID missing": (drop_field("ID"), "CAs[0]: ID: expected a non-empty string"),
    "ID empty": (set_field("ID", ""), "CAs[0]: ID: expected a non-empty string"),
    "ID a number": (set_field("ID", 1), "CAs[0]: ID: expected a non-empty string"),
    "ID with a newline": (set_field("ID", "a\nb"), "CAs[0]: ID: not printable text"),
    "key missing": (
        drop_field("SigningKeyPKCS8"),
        CA1 + "SigningKeyPKCS8: missing (expected a base64 string)",
    ),
    "key null": (
        set_field("SigningKeyPKCS8", None),
        CA1 + "SigningKeyPKCS8: missing (expected a base64 string)",
    ),
    "key bad base64": (
        set_field("SigningKeyPKCS8", "a*b="),
        CA1 + "SigningKeyPKCS8: not valid base64",
    ),
    "key unpadded base64": (
        set_field("SigningKeyPKCS8", "YWJj" + "ZA"),
        CA1 + "SigningKeyPKCS8: not valid base64",
    ),
    "key not PKCS#8": (
        set_field("SigningKeyPKCS8", b64(b"\x30\x03\x02\x01\x00")),
        CA1 + "SigningKeyPKCS8: not a PKCS#8 private key",
    ),
    "key X25519": (
        unsupported_key(x25519.X25519PrivateKey.generate()),
        CA1 + "SigningKeyPKCS8: unsupported key type",
    ),
    "key Ed448": (
        unsupported_key(ed448.Ed448PrivateKey.generate()),
        CA1 + "SigningKeyPKCS8: unsupported key type",
    ),
    "key secp256k1": (
        unsupported_key(ec.generate_private_key(ec.SECP256K1())),
        CA1 + "SigningKeyPKCS8: unsupported curve secp256k1",
    ),
    "key of another CA": (
        set_field("SigningKeyPKCS8", pkcs8(OTHER_KEY)),
        CA1 + "SigningKeyPKCS8: does not match the key of RootCertificateDER",
    ),
    "root missing": (
        drop_field("RootCertificateDER"),
        CA1 + "RootCertificateDER: missing (expected a base64 string)",
    ),
    "root bad base64": (
        set_field("RootCertificateDER", "!!!!"),
        CA1 + "RootCertificateDER: not valid base64",
    ),
    "root unparsable": (
        set_field("RootCertificateDER", b64(b"\x30\x00")),
        CA1 + "RootCertificateDER: not a parsable X.509 certificate",
    ),
    "root not a CA": (
        non_ca_root,
        CA1 + "RootCertificateDER: not a CA certificate (BasicConstraints cA=false)",
    ),
    "root without BasicConstraints": (
        root_without_basic_constraints,
        CA1 + "RootCertificateDER: not a CA certificate (no BasicConstraints)",
    ),
    "intermediates not a list": (
        set_field("IntermediateCertificatesDER", "abcd"),
        CA1 + "IntermediateCertificatesDER: expected a list or null",
    ),
    "intermediate bad base64": (
        set_field("IntermediateCertificatesDER", ["%%"]),
        CA1 + "IntermediateCertificatesDER[0]: not valid base64",
    ),
    "intermediate null": (
        set_field("IntermediateCertificatesDER", [None]),
        CA1 + "IntermediateCertificatesDER[0]: missing (expected a base64 string)",
    ),
    "intermediate unparsable": (
        set_field("IntermediateCertificatesDER", [b64(b"junk")]),
        CA1 + "IntermediateCertificatesDER[0]: not a parsable X.509 certificate",
    ),
    "intermediate not a CA": (
        non_ca_intermediate,
        CA1 + "IntermediateCertificatesDER[0]: not a CA certificate (BasicConstraints cA=false)",
    ),
    "intermediate not issued by the root": (
        intermediate_from_elsewhere,
        CA1 + "IntermediateCertificatesDER[0]: not issued by the root",
    ),
    "intermediates out of order": (
        two_intermediates_out_of_order,
        CA1 + "IntermediateCertificatesDER[0]: not issued by IntermediateCertificatesDER[1]",
    ),
    "root key with an intermediate": (
        root_key_with_intermediate,
        CA1 + "SigningKeyPKCS8: does not match the key of IntermediateCertificatesDER[0]",
    ),
    "duplicate ids": (duplicate_ids, CA1 + "ID: duplicate CA id"),
}


@pytest.mark.parametrize("case", REJECTIONS, ids=list(REJECTIONS))
def test_load_rejects(clock: FakeClock, case: str) -> None:
    ca = certs.root_ca()
    value = wire(ca)
    mutate, message = REJECTIONS[case]
    mutate(value)

    with pytest.raises(capool.CAPoolError) as caught:
        load_wire(value, clock)

    assert str(caught.value) == message
    assert pkcs8(ca.signing_key) not in str(caught.value)
    assert caught.value.__cause__ is None  # nothing from a key parser is chained


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "pool: not valid JSON: Expecting property name enclosed in double quotes (line 1)"),
        (b"\xff\xfe\xfd", "pool: not valid UTF-8"),
        (b"[]", "pool: expected a JSON object"),
        (b"null", "pool: expected a JSON object"),
        (b"[" * 100_000, "pool: not valid JSON: nested too deeply"),
    ],
)
def test_load_rejects_bad_json(clock: FakeClock, data: bytes, message: str) -> None:
    with pytest.raises(capool.CAPoolError, match="^" + re.escape(message) + "$"):
        capool.load(data, clock=clock)


def test_load_rejects_an_expired_signing_ca(clock: FakeClock) -> None:
    ca = certs.root_ca(not_after=certs.NOW + dt.timedelta(hours=1))
    data = capool.dump(capool.CAPool((ca,)))
    clock.advance(3600)

    with pytest.raises(capool.CAPoolError) as caught:
        capool.load(data, clock=clock)

    expiry = ca.root.not_valid_after_utc.isoformat()
    assert str(caught.value) == f'CA "1": RootCertificateDER: the signing CA expired at {expiry}'


def test_an_expiring_intermediate_is_named(clock: FakeClock) -> None:
    ca = certs.with_intermediate(certs.root_ca(), not_after=certs.NOW + dt.timedelta(hours=1))
    data = capool.dump(capool.CAPool((ca,)))
    clock.advance(2 * 3600)

    with pytest.raises(
        capool.CAPoolError, match=r'^CA "1": IntermediateCertificatesDER\[0\]: the signing'
    ):
        capool.load(data, clock=clock)


def test_expired_non_signing_cas_are_kept(clock: FakeClock) -> None:
    old = certs.root_ca(ca_id="old", not_after=certs.NOW + dt.timedelta(hours=1))
    new = certs.root_ca(ca_id="new")
    data = capool.dump(capool.CAPool((new, old)))
    clock.advance(2 * 3600)

    pool = capool.load(data, clock=clock)

    assert [ca.id for ca in pool.cas] == ["new", "old"]
    assert capool.dump(pool) == data


def test_go_escaped_base64_newlines_are_accepted(clock: FakeClock) -> None:
    ca = certs.root_ca()
    value = wire(ca)
    key = value["CAs"][0]["SigningKeyPKCS8"]
    value["CAs"][0]["SigningKeyPKCS8"] = key[:10] + "\r\n" + key[10:]

    assert (
        load_wire(value, clock).signing_ca.signing_key.public_key() == ca.signing_key.public_key()
    )


def test_unknown_fields_are_ignored(clock: FakeClock) -> None:
    value = wire(certs.root_ca())
    value["ActiveForSigning"] = "1"
    value["CAs"][0]["Comment"] = "hello"

    assert load_wire(value, clock).signing_ca.id == "1"


# --- pool and CA values ----------------------------------------------------------------------


def test_empty_pool_cannot_be_built() -> None:
    with pytest.raises(capool.CAPoolError, match=r"^pool: CAs: the pool is empty$"):
        capool.CAPool(())


def test_trust_anchors_are_roots_deduplicated_in_pool_order() -> None:
    first = certs.root_ca(ca_id="1")
    second = certs.root_ca(ca_id="2")
    same_root = capool.CA("3", first.signing_key, first.root)
    pool = capool.CAPool((second, first, certs.with_intermediate(same_root)))

    assert pool.trust_anchors() == (second.root, first.root)
    assert pool.signing_ca is second


def test_not_after_is_the_earliest_in_the_chain() -> None:
    ca = certs.with_intermediate(certs.root_ca(), not_after=certs.NOW + dt.timedelta(days=3))

    assert ca.not_after == ca.intermediates[0].not_valid_after_utc
    assert ca.not_after.tzinfo == dt.UTC


def test_ca_repr_shows_no_key_material() -> None:
    ca = certs.root_ca()
    raw = ca.signing_key.private_bytes_raw()  # type: ignore[union-attr]

    assert raw.hex() not in repr(ca)
    assert pkcs8(ca.signing_key) not in repr(ca)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (ec.generate_private_key(ec.SECP384R1()), hashes.SHA384),
        (ec.generate_private_key(ec.SECP521R1()), hashes.SHA512),
    ],
)
def test_hash_algorithm_follows_the_curve(key: ec.EllipticCurvePrivateKey, expected: type) -> None:
    assert isinstance(certs.root_ca(key).hash_algorithm, expected)


def test_rsa_ca_uses_sha256(rsa_keys: dict[int, rsa.RSAPrivateKey]) -> None:
    assert isinstance(certs.root_ca(rsa_keys[2048]).hash_algorithm, hashes.SHA256)


def test_aki_falls_back_to_the_key_without_ski() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    root = certs.make_cert(key=key, subject=certs.name("no ski"), ski=False)

    ca = capool.CA("1", key, root)

    expected = x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())
    assert ca.authority_key_identifier == expected


# --- generation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_type", "key_class"),
    [("ed25519", ed25519.Ed25519PrivateKey), ("ecdsa-p256", ec.EllipticCurvePrivateKey)],
)
def test_generate_ca(clock: FakeClock, key_type: str, key_class: type) -> None:
    ca = capool.generate_ca(ca_id="7", name="example.com/svc", key_type=key_type, clock=clock)
    root = ca.root
    extensions = root.extensions

    assert isinstance(ca.signing_key, key_class)
    assert root.subject.rfc4514_string() == "CN=example.com/svc CA 7"
    assert root.issuer == root.subject
    root.verify_directly_issued_by(root)
    assert root.not_valid_before_utc == dt.datetime(2026, 1, 1, 11, 55, tzinfo=dt.UTC)
    assert root.not_valid_after_utc == dt.datetime(2027, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert 0 < root.serial_number < 2**159
    constraints = extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length is None
    usage = extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value == certs.key_usage()
    ski = extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(ca.signing_key.public_key())
    if key_type == "ecdsa-p256":
        assert isinstance(root.signature_hash_algorithm, hashes.SHA256)


def test_generate_ca_validity(clock: FakeClock) -> None:
    ca = capool.generate_ca(
        ca_id="1", name="n", clock=clock, validity=dt.timedelta(days=2, microseconds=5)
    )

    assert ca.not_after == dt.datetime(2026, 1, 3, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("name", "ca_id", "cn"),
    [
        ("x" * 100, "1", "x" * 59 + " CA 1"),
        ("", "1", "CA 1"),
        ("n", "y" * 70, ("CA " + "y" * 70)[:64]),
    ],
)
def test_generate_ca_fits_the_common_name(clock: FakeClock, name: str, ca_id: str, cn: str) -> None:
    ca = capool.generate_ca(ca_id=ca_id, name=name, clock=clock)

    assert ca.root.subject.rfc4514_string() == f"CN={cn}"


def test_generate_ca_rejects_bad_arguments(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="unsupported CA key type 'rsa'"):
        capool.generate_ca(ca_id="1", name="n", key_type="rsa", clock=clock)
    with pytest.raises(ValueError, match="CA id must not be empty"):
        capool.generate_ca(ca_id="", name="n", clock=clock)


def test_new_pool_loads(clock: FakeClock) -> None:
    pool = capool.new_pool(ca_id="1", name="n", key_type="ecdsa-p256", clock=clock)

    assert [ca.id for ca in pool.cas] == ["1"]
    assert capool.load(capool.dump(pool), clock=clock).trust_anchors() == (pool.signing_ca.root,)


# --- garbage in ------------------------------------------------------------------------------

VALID = capool.dump(capool.CAPool((certs.with_intermediate(certs.root_ca()),)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_load_raises_only_capool_error_on_random_bytes(data: bytes) -> None:
    _load_or_reject(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(VALID)), st.binary(max_size=8))
def test_load_raises_only_capool_error_on_damaged_pools(cut: int, junk: bytes) -> None:
    _load_or_reject(VALID[:cut] + junk + VALID[cut + len(junk) :])


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["CAs", "ID", "SigningKeyPKCS8", "RootCertificateDER",
                                         "IntermediateCertificatesDER"]), inner, max_size=4),
                    max_leaves=12))  # fmt: skip
def test_load_raises_only_capool_error_on_odd_shapes(value: Any) -> None:
    _load_or_reject(json.dumps(value).encode("utf-8"))


def _load_or_reject(data: bytes) -> None:
    with contextlib.suppress(capool.CAPoolError):
        capool.load(data, clock=FakeClock(certs.NOW))


# Found by tests/unit/pki/test_fuzz_capool.py: each escaped `load` as TypeError or ValueError.
def test_a_role_that_is_not_a_string_is_refused(clock: FakeClock) -> None:
    pool = capool.new_pool(ca_id="1", name="t", clock=clock)
    for role in ({}, [], ["active"]):
        data = json.loads(capool.dump(pool))
        data["CAs"][0]["Role"] = role
        with pytest.raises(capool.CAPoolError, match="Role: expected one of"):
            load_wire(data, clock)


def test_a_number_too_long_for_python_is_refused(clock: FakeClock) -> None:
    with pytest.raises(capool.CAPoolError, match="a number is too long"):
        capool.load(b'{"CAs": [{"ID": 1' + b"0" * 5000 + b"}]}", clock=clock)


def malformed_subject(cert: x509.Certificate) -> bytes:
    """The DER of `cert` with its subject's SEQUENCE tag made context-specific [0]: it still
    loads, since cryptography parses the subject only when asked for it."""
    data, subject = cert.public_bytes(serialization.Encoding.DER), cert.subject.public_bytes()
    at = data.rindex(subject)
    return data[:at] + b"\x80" + data[at + 1 :]


def test_a_root_whose_subject_does_not_parse_is_refused(clock: FakeClock) -> None:
    pool = capool.new_pool(ca_id="1", name="t", clock=clock)
    data = json.loads(capool.dump(pool))
    data["CAs"][0]["RootCertificateDER"] = b64(malformed_subject(pool.signing_ca.root))
    with pytest.raises(capool.CAPoolError, match=r"RootCertificateDER: not a parsable X\.509"):
        load_wire(data, clock)


def test_a_key_openssl_cannot_set_up_is_refused(clock: FakeClock) -> None:
    """An Ed448 PKCS#8 key of 32 bytes: OpenSSL raises InternalError, not ValueError."""
    pool = capool.new_pool(ca_id="1", name="t", clock=clock)
    data = json.loads(capool.dump(pool))
    key = bytes.fromhex("302e020100300506032b657104220420") + bytes(range(32))
    data["CAs"][0]["SigningKeyPKCS8"] = b64(key)
    with pytest.raises(capool.CAPoolError, match="SigningKeyPKCS8: not a PKCS#8 private key"):
        load_wire(data, clock)
