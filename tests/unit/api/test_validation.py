from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from api import wireforms as wf
from meshtool.api import decisions, pcr, status, validation
from meshtool.api.types import KeyType, PodCertRequest
from meshtool.clock import FakeClock
from meshtool.pki import capool, issue, pem

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def pool() -> capool.CAPool:
    return capool.new_pool(ca_id="v", name="validation", clock=FakeClock(T0))


@pytest.fixture
def request_() -> PodCertRequest:
    return pcr.parse(wf.pcr(key=wf.private_key(KeyType.ECDSAP256)))


def _leaf(
    pool: capool.CAPool,
    request: PodCertRequest,
    *,
    dns_names: tuple[str, ...] = ("web.ns1.svc",),
    clock: FakeClock | None = None,
    policy: issue.LifetimePolicy | None = None,
) -> issue.IssuedLeaf:
    leaf = issue.issue_leaf(
        public_key=wf.certificate_key(request),
        profile=issue.LeafProfile(dns_names=dns_names),
        max_expiration_seconds=request.max_expiration_seconds,
        ca=pool.signing_ca,
        clock=clock or FakeClock(T0),
        policy=policy or issue.LifetimePolicy(),
    )
    assert isinstance(leaf, issue.IssuedLeaf)
    return leaf


def _body(leaf: issue.IssuedLeaf) -> dict[str, Any]:
    decision = decisions.Issued(
        chain_pem=leaf.chain_pem,
        not_before=leaf.not_before,
        not_after=leaf.not_after,
        begin_refresh_at=leaf.begin_refresh_at,
    )
    return dict(status.status_body(decision, clock=FakeClock(T0)))


def _problems(body: dict[str, Any], request: PodCertRequest, now: dt.datetime = T0) -> list[str]:
    return validation.issued_status_problems(body, request=request, now=now)


def test_a_real_issued_status_has_no_problems(
    pool: capool.CAPool, request_: PodCertRequest
) -> None:
    assert _problems(_body(_leaf(pool, request_)), request_) == []


def _cert_pem(pool: capool.CAPool) -> str:
    return pool.signing_ca.root.public_bytes(serialization.Encoding.PEM).decode()


Mutation = Callable[[dict[str, Any], capool.CAPool], None]


def _cond(**changes: Any) -> Mutation:
    def mutate(body: dict[str, Any], _: capool.CAPool) -> None:
        body["conditions"] = [{**body["conditions"][0], **changes}]

    return mutate


def _field(name: str, value: Any) -> Mutation:
    def mutate(body: dict[str, Any], _: capool.CAPool) -> None:
        if value is None:
            del body[name]
        else:
            body[name] = value

    return mutate


def _shift(name: str, **delta: float) -> Mutation:
    def mutate(body: dict[str, Any], _: capool.CAPool) -> None:
        t = dt.datetime.strptime(body[name], "%Y-%m-%dT%H:%M:%SZ") + dt.timedelta(**delta)
        body[name] = t.strftime("%Y-%m-%dT%H:%M:%SZ")

    return mutate


def _append(text: str) -> Mutation:
    def mutate(body: dict[str, Any], pool: capool.CAPool) -> None:
        body["certificateChain"] += text.replace("ROOT", _cert_pem(pool))

    return mutate


def _prepend_root(body: dict[str, Any], pool: capool.CAPool) -> None:
    body["certificateChain"] = _cert_pem(pool) + body["certificateChain"]


def _no_conditions(body: dict[str, Any], _: capool.CAPool) -> None:
    body["conditions"] = []


def _two_conditions(body: dict[str, Any], _: capool.CAPool) -> None:
    body["conditions"] = body["conditions"] * 2


def _huge_chain(body: dict[str, Any], _: capool.CAPool) -> None:
    body["certificateChain"] += "x" * (100 * 1024)


BAD_BLOCK = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
KEY_BLOCK = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_no_conditions, "exactly one condition"),
        (_two_conditions, "exactly one condition"),
        (_cond(type="Denied"), "type Issued"),
        (_cond(status="False"), "type Issued"),
        (_cond(reason=""), "reason"),
        (_cond(reason="not camel case"), "reason"),
        (_cond(reason="A" * 1025), "reason"),
        (_cond(message="m" * 40000), "message"),
        (_cond(lastTransitionTime=None), "lastTransitionTime"),
        (_cond(lastTransitionTime="2026-01-01T00:00:00.5Z"), "lastTransitionTime"),
        (_field("certificateChain", None), "certificateChain: missing"),
        (_field("certificateChain", "no pem here"), "no PEM block"),
        (_huge_chain, "longer than"),
        (_append(BAD_BLOCK), "block 1: does not parse"),
        (_append(KEY_BLOCK), "block 1: type 'PRIVATE KEY'"),
        (_append("-----BEGIN CERTIFICATE-----\n%%\n"), None),
        (_prepend_root, "not the requested public key"),
        (_field("notBefore", None), "notBefore"),
        (_field("notAfter", None), "notAfter"),
        (_field("beginRefreshAt", None), "beginRefreshAt"),
        (_field("notBefore", "2025-12-31T23:58:00.000Z"), "notBefore"),
        (_field("notAfter", 12), "notAfter"),
        (_shift("notBefore", seconds=1), "notBefore differs"),
        (_shift("notAfter", seconds=-1), "notAfter differs"),
        (_shift("beginRefreshAt", hours=13), "beginRefreshAt is not within"),
        (_shift("beginRefreshAt", hours=-12), "beginRefreshAt is not within"),
    ],
)
def test_each_broken_rule_is_reported(
    pool: capool.CAPool, request_: PodCertRequest, mutate: Mutation, expected: str | None
) -> None:
    body = _body(_leaf(pool, request_))
    mutate(body, pool)
    problems = _problems(body, request_)
    if expected is None:
        assert problems == []  # an unterminated block is text between blocks, which is ignored
    else:
        assert any(expected in p for p in problems), problems


def test_pem_headers_are_refused(pool: capool.CAPool, request_: PodCertRequest) -> None:
    body = _body(_leaf(pool, request_))
    root = _cert_pem(pool).replace("-----\n", "-----\nComment: hi\n\n", 1)
    body["certificateChain"] += root
    assert any("PEM headers" in p for p in _problems(body, request_))


def test_a_chain_whose_first_block_is_not_a_certificate(
    pool: capool.CAPool, request_: PodCertRequest
) -> None:
    body = _body(_leaf(pool, request_))
    body["certificateChain"] = KEY_BLOCK + body["certificateChain"]
    assert any("block 0: type 'PRIVATE KEY'" in p for p in _problems(body, request_))


@pytest.mark.parametrize(
    "name", ["", "a..b.svc", ".a.svc", "a.svc."], ids=["empty", "dots", "lead", "trail"]
)
def test_bad_dns_sans(pool: capool.CAPool, request_: PodCertRequest, name: str) -> None:
    # cryptography refuses some of these names when building, so sign the SAN by hand.
    leaf = _leaf(pool, request_)
    body = _body(leaf)
    cert = _resign_with_san(pool, leaf.certificate, [x509.DNSName(name)])
    body["certificateChain"] = cert.public_bytes(serialization.Encoding.PEM).decode()
    assert any("DNS SAN" in p for p in _problems(body, request_))


def test_bad_email_san(pool: capool.CAPool, request_: PodCertRequest) -> None:
    leaf = _leaf(pool, request_)
    body = _body(leaf)
    cert = _resign_with_san(pool, leaf.certificate, [x509.RFC822Name("nobody")])
    body["certificateChain"] = cert.public_bytes(serialization.Encoding.PEM).decode()
    assert any("email SAN" in p for p in _problems(body, request_))


def _resign_with_san(
    pool: capool.CAPool, cert: x509.Certificate, names: list[x509.GeneralName]
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(cert.public_key())  # type: ignore[arg-type]
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
        .add_extension(x509.SubjectAlternativeName(names), critical=True)
    )
    return builder.sign(pool.signing_ca.signing_key, None)


def test_clock_skew(pool: capool.CAPool, request_: PodCertRequest) -> None:
    body = _body(_leaf(pool, request_))  # notBefore = T0 - 2 min
    assert _problems(body, request_, T0 + dt.timedelta(minutes=2, seconds=59)) == []
    late = _problems(body, request_, T0 + dt.timedelta(minutes=3))
    assert any("5 minutes" in p for p in late)
    early = _problems(body, request_, T0 - dt.timedelta(minutes=7))
    assert any("5 minutes" in p for p in early)


def test_lifetime_bounds(pool: capool.CAPool) -> None:
    short = pcr.parse(wf.pcr(maxExpirationSeconds=3600))
    body = _body(_leaf(pool, short))
    assert _problems(body, short) == []
    longer = pcr.parse(wf.pcr(maxExpirationSeconds=7200))
    body = _body(_leaf(pool, longer))
    assert any("exceeds maxExpirationSeconds" in p for p in _problems(body, short))


def test_lifetime_below_an_hour(pool: capool.CAPool, request_: PodCertRequest) -> None:
    leaf = _leaf(pool, request_)
    cert = _resign_with_san(pool, leaf.certificate, [x509.DNSName("a.b.svc")])
    short = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(cert.public_key())  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(leaf.not_before)
        .not_valid_after(leaf.not_before + dt.timedelta(minutes=59))
        .sign(pool.signing_ca.signing_key, None)
    )
    body = _body(leaf)
    body["certificateChain"] = short.public_bytes(serialization.Encoding.PEM).decode()
    body["notAfter"] = (leaf.not_before + dt.timedelta(minutes=59)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body["beginRefreshAt"] = (leaf.not_before + dt.timedelta(minutes=20)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert any("shorter than 1h" in p for p in _problems(body, request_))


def test_a_request_without_a_key(pool: capool.CAPool, request_: PodCertRequest) -> None:
    body = _body(_leaf(pool, request_))
    keyless = pcr.parse(wf.pcr(stubPKCS10Request=None))
    assert any("no readable public key" in p for p in _problems(body, keyless))


def test_another_key_is_reported(pool: capool.CAPool, request_: PodCertRequest) -> None:
    body = _body(_leaf(pool, request_))
    other = pcr.parse(wf.pcr(key=wf.private_key(KeyType.ED25519)))
    assert _problems(body, other) == ["leaf public key is not the requested public key"]


def test_garbage_status_is_just_problems(request_: PodCertRequest) -> None:
    assert len(_problems({}, request_)) >= 5
    assert _problems({"conditions": ["x"], "certificateChain": 5}, request_)
    assert pem.scan("") == ()


# -- the controller's check, from the decision -------------------------------------------------


def _decision(issued: issue.IssuedLeaf, **changes: Any) -> decisions.Issued:
    fields: dict[str, Any] = {
        "chain_pem": issued.chain_pem,
        "not_before": issued.not_before,
        "not_after": issued.not_after,
        "begin_refresh_at": issued.begin_refresh_at,
        "leaf": issued.certificate,
    }
    return decisions.Issued(**{**fields, **changes})


def _both(decision: decisions.Issued, request: PodCertRequest) -> tuple[list[str], list[str]]:
    body = dict(status.status_body(decision, clock=FakeClock(T0)))
    fast = validation.issued_decision_problems(decision, body, request=request, now=T0)
    return fast, _problems(body, request)


H1 = dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("case", "changes", "expected"),
    [
        ("sound", {}, None),
        ("late notBefore", {"not_before_shift": 8 * 60}, "5 minutes or more away"),
        ("refresh outside", {"begin_refresh_at": "not_after"}, "beginRefreshAt is not within"),
        ("notAfter not the leaf's", {"not_after_shift": -3600}, "notAfter differs"),
        ("fraction", {"not_before_micro": 5}, None),
    ],
)
def test_the_decision_check_finds_what_the_full_check_finds(
    pool: capool.CAPool, request_: PodCertRequest, case: str, changes: dict[str, Any], expected
) -> None:
    leaf = _leaf(pool, request_)
    fields: dict[str, Any] = {}
    if "not_before_shift" in changes:
        fields["not_before"] = leaf.not_before + dt.timedelta(seconds=changes["not_before_shift"])
    if changes.get("begin_refresh_at") == "not_after":
        fields["begin_refresh_at"] = leaf.not_after
    if "not_after_shift" in changes:
        fields["not_after"] = leaf.not_after + dt.timedelta(seconds=changes["not_after_shift"])
    if "not_before_micro" in changes:
        fields["not_before"] = leaf.not_before.replace(microsecond=changes["not_before_micro"])
    fast, full = _both(_decision(leaf, **fields), request_)
    if expected is None:
        assert fast == full == []
    else:
        assert any(expected in p for p in fast), fast
        assert any(expected.split()[0] in p for p in full), full


def test_the_decision_check_reads_key_and_names_from_the_leaf(pool: capool.CAPool) -> None:
    request = pcr.parse(wf.pcr(key=wf.private_key(KeyType.ECDSAP256)))
    other = pcr.parse(wf.pcr(key=wf.private_key(KeyType.ECDSAP384)))
    leaf = _leaf(pool, other, dns_names=("a..b.svc",))
    fast, full = _both(_decision(leaf), request)
    for problems in (fast, full):
        assert "leaf public key is not the requested public key" in problems
        assert any("'a..b.svc'" in p for p in problems)


def test_a_decision_without_its_leaf_gets_the_full_check(
    pool: capool.CAPool, request_: PodCertRequest
) -> None:
    leaf = _leaf(pool, request_)
    broken = _decision(leaf, leaf=None, chain_pem=leaf.chain_pem.replace("CERTIFICATE", "X509", 2))
    fast, full = _both(broken, request_)
    assert fast == full
    assert any("type 'X509'" in p for p in fast), fast


def test_the_decision_check_refuses_a_chain_not_opening_with_a_certificate(
    pool: capool.CAPool, request_: PodCertRequest
) -> None:
    leaf = _leaf(pool, request_)
    fast, _ = _both(_decision(leaf, chain_pem="junk\n" + leaf.chain_pem), request_)
    assert "certificateChain: does not start with a CERTIFICATE block" in fast
