from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID
from OpenSSL import crypto

from meshtool.clock import FakeClock
from meshtool.pki import capool, issue, pem, podidentity

from . import certs

H = dt.timedelta(hours=1)
MIN = dt.timedelta(minutes=1)
TRUNCATED_NOW = certs.NOW.replace(microsecond=0)
DNS = ("web.default.svc", "web.default.svc.cluster.local")
SPIFFE = "spiffe://cluster.local/ns/default/sa/web"
PROFILE = issue.LeafProfile(
    dns_names=DNS,
    uris=(SPIFFE,),
    extended_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
)
GO_POOL = pathlib.Path(__file__).parent / "testdata" / "go_pool_compact.json"


def issued(
    ca: capool.CA,
    clock: FakeClock,
    *,
    public_key: object = None,
    profile: issue.LeafProfile = PROFILE,
    max_expiration_seconds: int = 86400,
    policy: issue.LifetimePolicy | None = None,
) -> issue.IssuedLeaf:
    key = public_key or ec.generate_private_key(ec.SECP256R1()).public_key()
    result = issue.issue_leaf(
        public_key=key,  # type: ignore[arg-type]
        profile=profile,
        max_expiration_seconds=max_expiration_seconds,
        ca=ca,
        clock=clock,
        policy=policy or issue.LifetimePolicy(),
    )
    assert isinstance(result, issue.IssuedLeaf), result
    return result


def verify(leaf: issue.IssuedLeaf, ca: capool.CA, at: dt.datetime) -> None:
    """Verify the chain the way a TLS peer would: PolicyBuilder, or OpenSSL for Ed25519 CAs."""
    chain = pem.certificates(leaf.chain_pem)
    if any(isinstance(c.public_key(), ed25519.Ed25519PublicKey) for c in (ca.root, *chain[1:])):
        store = crypto.X509Store()
        store.add_cert(crypto.X509.from_cryptography(ca.root))
        store.set_time(at.replace(tzinfo=None))
        intermediates = [crypto.X509.from_cryptography(c) for c in chain[1:]]
        leaf_cert = crypto.X509.from_cryptography(chain[0])
        crypto.X509StoreContext(store, leaf_cert, intermediates).verify_certificate()
        return
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([ca.root]))
        .time(at)
        .build_server_verifier(x509.DNSName(DNS[0]))
    )
    verifier.verify(chain[0], list(chain[1:]))


# --- keys and CAs ----------------------------------------------------------------------------


@pytest.fixture(params=["ed25519", "ecdsa-p256", "ecdsa-p256+intermediate", "rsa-2048"])
def ca(
    request: pytest.FixtureRequest, clock: FakeClock, rsa_keys: dict[int, rsa.RSAPrivateKey]
) -> capool.CA:
    kind: str = request.param
    if kind == "rsa-2048":
        return certs.root_ca(rsa_keys[2048])
    generated = capool.generate_ca(ca_id="1", name="n", key_type=kind.split("+")[0], clock=clock)
    return certs.with_intermediate(generated) if kind.endswith("+intermediate") else generated


@pytest.mark.parametrize("kind", certs.SUBJECT_KEY_KINDS)
def test_issues_a_verifiable_chain_for_every_key_type(
    ca: capool.CA, clock: FakeClock, rsa_keys: dict[int, rsa.RSAPrivateKey], kind: str
) -> None:
    subject_key = certs.subject_key(kind, rsa_keys).public_key()

    leaf = issued(ca, clock, public_key=subject_key)

    assert leaf.certificate.public_key() == subject_key
    verify(leaf, ca, at=certs.NOW)


def test_a_chain_from_another_ca_does_not_verify(ca: capool.CA, clock: FakeClock) -> None:
    leaf = issued(ca, clock)
    other = capool.generate_ca(ca_id="x", name="x", key_type="ecdsa-p256", clock=clock)
    stranger = dataclasses.replace(ca, root=other.root) if not ca.intermediates else other

    with pytest.raises((verification.VerificationError, crypto.X509StoreContextError)):
        verify(leaf, stranger, at=certs.NOW)


def test_an_expired_leaf_does_not_verify(clock: FakeClock) -> None:
    ca = capool.generate_ca(ca_id="1", name="n", key_type="ecdsa-p256", clock=clock)
    leaf = issued(ca, clock, max_expiration_seconds=3600)

    with pytest.raises(verification.VerificationError):
        verify(leaf, ca, at=certs.NOW + 2 * H)


def test_issues_from_a_go_ca_with_an_empty_subject(clock: FakeClock) -> None:
    go_ca = capool.load(GO_POOL.read_bytes(), clock=clock).signing_ca

    leaf = issued(go_ca, clock)

    assert leaf.certificate.issuer == x509.Name([])
    verify(leaf, go_ca, at=certs.NOW)


@pytest.mark.parametrize(
    ("key", "algorithm"),
    [
        (ed25519.Ed25519PrivateKey.generate(), type(None)),
        (ec.generate_private_key(ec.SECP256R1()), hashes.SHA256),
        (ec.generate_private_key(ec.SECP384R1()), hashes.SHA384),
        (ec.generate_private_key(ec.SECP521R1()), hashes.SHA512),
    ],
)
def test_signature_hash_follows_the_ca_key(
    clock: FakeClock, key: capool.SigningKey, algorithm: type
) -> None:
    ca = certs.root_ca(key)

    leaf = issued(ca, clock)

    assert isinstance(leaf.certificate.signature_hash_algorithm, algorithm)
    verify(leaf, ca, at=certs.NOW)


def test_rsa_ca_signs_with_sha256(clock: FakeClock, rsa_keys: dict[int, rsa.RSAPrivateKey]) -> None:
    leaf = issued(certs.root_ca(rsa_keys[2048]), clock)

    assert isinstance(leaf.certificate.signature_hash_algorithm, hashes.SHA256)


# --- times -----------------------------------------------------------------------------------


@pytest.fixture
def ed_ca() -> capool.CA:
    return certs.root_ca()


def test_times_are_whole_utc_seconds_with_a_backdate(ed_ca: capool.CA, clock: FakeClock) -> None:
    leaf = issued(ed_ca, clock)
    cert = leaf.certificate

    assert leaf.not_before == TRUNCATED_NOW - 2 * MIN
    assert leaf.not_after == leaf.not_before + 24 * H
    assert leaf.begin_refresh_at == leaf.not_before + 12 * H
    for value in (leaf.not_before, leaf.not_after, leaf.begin_refresh_at):
        assert value.tzinfo == dt.UTC and value.microsecond == 0
    assert cert.not_valid_before_utc == leaf.not_before
    assert cert.not_valid_after_utc == leaf.not_after


def test_non_utc_clock_is_converted(ed_ca: capool.CA) -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))

    leaf = issued(ed_ca, FakeClock(certs.NOW.astimezone(plus_two)))

    assert leaf.not_before == TRUNCATED_NOW - 2 * MIN
    assert leaf.not_before.tzinfo == dt.UTC


@pytest.mark.parametrize(
    ("max_expiration_seconds", "policy", "lifetime"),
    [
        (86400, issue.LifetimePolicy(), 24 * H),
        (7862400, issue.LifetimePolicy(), 24 * H),
        (3600, issue.LifetimePolicy(), H),
        (5000, issue.LifetimePolicy(), dt.timedelta(seconds=5000)),
        (86400, issue.LifetimePolicy(max_lifetime=2 * H + dt.timedelta(milliseconds=900)), 2 * H),
        (86400, issue.LifetimePolicy(backdate=dt.timedelta(0)), 24 * H),
    ],
)
def test_lifetime_clamps(
    ed_ca: capool.CA,
    clock: FakeClock,
    max_expiration_seconds: int,
    policy: issue.LifetimePolicy,
    lifetime: dt.timedelta,
) -> None:
    leaf = issued(ed_ca, clock, max_expiration_seconds=max_expiration_seconds, policy=policy)

    assert leaf.not_before == TRUNCATED_NOW - policy.backdate
    assert leaf.not_after - leaf.not_before == lifetime


def test_lifetime_ends_with_the_ca(clock: FakeClock) -> None:
    ca = certs.root_ca(not_after=TRUNCATED_NOW + 5 * H)

    leaf = issued(ca, clock)

    assert leaf.not_after == ca.not_after
    assert leaf.not_after - leaf.not_before == 5 * H + 2 * MIN


def test_lifetime_ends_with_the_intermediate(clock: FakeClock) -> None:
    ca = certs.with_intermediate(certs.root_ca(), not_after=TRUNCATED_NOW + 3 * H)

    assert issued(ca, clock).not_after == TRUNCATED_NOW + 3 * H


@pytest.mark.parametrize("remaining", [H - 2 * MIN - dt.timedelta(seconds=1), 10 * MIN, -H])
def test_cannot_issue_when_the_ca_has_under_an_hour_left(
    clock: FakeClock, remaining: dt.timedelta
) -> None:
    ca = certs.root_ca(not_after=TRUNCATED_NOW + remaining)

    result = issue.issue_leaf(
        public_key=ed25519.Ed25519PrivateKey.generate().public_key(),
        profile=PROFILE,
        max_expiration_seconds=86400,
        ca=ca,
        clock=clock,
    )

    assert isinstance(result, issue.CannotIssue)
    assert result.reason == issue.CA_NOT_USABLE == "CANotUsable"
    assert result.message.startswith('CA "1" expires at ')
    assert result.retry_after == 300.0


def test_exactly_one_hour_left_still_issues(clock: FakeClock) -> None:
    ca = certs.root_ca(not_after=TRUNCATED_NOW - 2 * MIN + H)

    leaf = issued(ca, clock)

    assert leaf.not_after - leaf.not_before == H
    assert leaf.begin_refresh_at == leaf.not_before + 30 * MIN


def test_cannot_issue_below_the_minimum_request(ed_ca: capool.CA, clock: FakeClock) -> None:
    result = issue.issue_leaf(
        public_key=ed25519.Ed25519PrivateKey.generate().public_key(),
        profile=PROFILE,
        max_expiration_seconds=3599,
        ca=ed_ca,
        clock=clock,
    )

    assert result == issue.CannotIssue(
        reason="LifetimeTooShort",
        message="maxExpirationSeconds 3599 is below the minimum lifetime 3600s",
        retry_after=300.0,
    )


@pytest.mark.parametrize(
    ("lifetime_seconds", "fraction", "refresh_offset_seconds"),
    [
        (86400, 0.5, 43200),
        (3600, 0.01, 600),  # clamped up to notBefore + 10 min
        (3600, 0.99, 3000),  # clamped down to notAfter - 10 min
        (3601, 0.5, 1800),  # 1800.5 s truncated to whole seconds
        (7200, 2 / 3, 4800),
        (86400, 0.999, 85800),
    ],
)
def test_begin_refresh_at(
    lifetime_seconds: int, fraction: float, refresh_offset_seconds: int
) -> None:
    start = TRUNCATED_NOW
    end = start + dt.timedelta(seconds=lifetime_seconds)

    at = issue.begin_refresh_at(start, end, fraction)

    assert at == start + dt.timedelta(seconds=refresh_offset_seconds)
    assert start + 10 * MIN <= at <= end - 10 * MIN


def test_refresh_fraction_is_applied(ed_ca: capool.CA, clock: FakeClock) -> None:
    policy = issue.LifetimePolicy(refresh_fraction=0.75)

    leaf = issued(ed_ca, clock, policy=policy)

    assert leaf.begin_refresh_at == leaf.not_before + 18 * H


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"backdate": 5 * MIN}, "backdate must be in"),
        ({"backdate": -MIN}, "backdate must be in"),
        ({"min_lifetime": 59 * MIN}, "min_lifetime must be at least 1h"),
        (
            {"max_lifetime": 2 * H, "min_lifetime": 3 * H},
            "max_lifetime must be at least min_lifetime",
        ),
        ({"refresh_fraction": 0.0}, "refresh_fraction must be in"),
        ({"refresh_fraction": 1.0}, "refresh_fraction must be in"),
    ],
)
def test_policy_validation(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        issue.LifetimePolicy(**changes)  # type: ignore[arg-type]


def test_largest_allowed_backdate_stays_under_five_minutes(ed_ca: capool.CA) -> None:
    clock = FakeClock(TRUNCATED_NOW + dt.timedelta(microseconds=999_999))
    policy = issue.LifetimePolicy(backdate=5 * MIN - dt.timedelta(microseconds=1))

    leaf = issued(ed_ca, clock, policy=policy)

    assert clock.now() - leaf.not_before < 5 * MIN


# --- contents --------------------------------------------------------------------------------


def test_serial_numbers_are_positive_and_fit_16_bytes() -> None:
    serials = {issue.serial_number() for _ in range(2000)}

    assert len(serials) == 2000
    assert all(0 < s < 2**127 for s in serials)
    assert max(s.bit_length() for s in serials) > 120  # really random, not small


def test_leaf_serial_der_is_at_most_16_bytes(ed_ca: capool.CA, clock: FakeClock) -> None:
    for _ in range(50):
        cert = issued(ed_ca, clock).certificate
        assert 0 < cert.serial_number < 2**127
        encoded = cert.serial_number.to_bytes(16, "big")
        assert (encoded[0] & 0x80) == 0  # no sign byte needed


def test_names_and_key_identifiers(clock: FakeClock) -> None:
    ca = certs.with_intermediate(capool.generate_ca(ca_id="1", name="n", clock=clock))
    subject_key = ec.generate_private_key(ec.SECP384R1()).public_key()

    cert = issued(ca, clock, public_key=subject_key).certificate
    extensions = cert.extensions

    assert cert.subject == x509.Name([])
    assert cert.issuer == ca.intermediates[0].subject
    ski = extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert not ski.critical
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(subject_key)
    aki = extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    issuer_ski = ca.intermediates[0].extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert not aki.critical
    assert aki.value.key_identifier == issuer_ski.value.digest
    assert aki.value.authority_cert_issuer is None


def test_extensions_and_criticality(ed_ca: capool.CA, clock: FakeClock) -> None:
    cert = issued(ed_ca, clock).certificate
    extensions = cert.extensions

    san = extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert san.value.get_values_for_type(x509.DNSName) == list(DNS)
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [SPIFFE]
    usage = extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value == certs.key_usage(cert_sign=False, digital_signature=True)
    constraints = extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value == x509.BasicConstraints(ca=False, path_length=None)
    eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert not eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert len(extensions) == 6


def test_no_san_and_no_eku_when_not_asked(ed_ca: capool.CA, clock: FakeClock) -> None:
    cert = issued(ed_ca, clock, profile=issue.LeafProfile()).certificate

    oids = {ext.oid for ext in cert.extensions}
    assert x509.SubjectAlternativeName.oid not in oids
    assert x509.ExtendedKeyUsage.oid not in oids
    assert len(oids) == 4


def test_extra_extensions_are_appended(ed_ca: capool.CA, clock: FakeClock) -> None:
    identity = podidentity.PodIdentity("ns", "sa", "sa-uid", "pod", "pod-uid", "node", "node-uid")
    extra = ((podidentity.extension(identity), False), (x509.OCSPNoCheck(), True))

    cert = issued(ed_ca, clock, profile=issue.LeafProfile(extra_extensions=extra)).certificate

    assert [ext.oid for ext in cert.extensions][-2:] == [podidentity.OID, x509.OCSPNoCheck.oid]
    assert not cert.extensions.get_extension_for_oid(podidentity.OID).critical
    assert cert.extensions.get_extension_for_class(x509.OCSPNoCheck).critical
    assert podidentity.from_certificate(cert) == identity


def test_extra_extension_may_not_duplicate_a_fixed_one(ed_ca: capool.CA, clock: FakeClock) -> None:
    profile = issue.LeafProfile(
        extra_extensions=((x509.BasicConstraints(ca=True, path_length=None), True),)
    )

    with pytest.raises(ValueError, match="duplicates another extension"):
        issued(ed_ca, clock, profile=profile)


def test_chain_pem_is_the_leaf_then_the_intermediates(clock: FakeClock) -> None:
    ca = certs.with_intermediate(certs.with_intermediate(certs.root_ca()))

    leaf = issued(ca, clock)

    expected = [leaf.certificate, *ca.intermediates]
    assert leaf.chain_pem == pem.encode(expected)
    assert [b.type for b in pem.blocks(leaf.chain_pem)] == ["CERTIFICATE"] * 3
    assert leaf.chain_pem.startswith("-----BEGIN CERTIFICATE-----\n")
    assert leaf.certificate.public_bytes(serialization.Encoding.PEM).decode() in leaf.chain_pem
