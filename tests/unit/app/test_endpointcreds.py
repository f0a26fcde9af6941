"""The bundle endpoint's certificates: the X509-SVID's profile and renewal timing (on a fake
clock, no sleeping), and the web profile's file reload."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from meshtool.app import endpointcreds
from meshtool.clock import FakeClock
from meshtool.pki import capool, issue

SPIFFE = "row-major.net/spiffe"
ENDPOINT_ID = "spiffe://cluster.local/meshtool/bundle-endpoint"
START = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def pool(clock, *ids):
    cas = [
        capool.new_pool(ca_id=i, name=SPIFFE, key_type="ecdsa-p256", clock=clock).cas[0]
        for i in ids
    ]
    return capool.CAPool(tuple(cas))


class Setup:
    def __init__(self):
        self.clock = FakeClock(START)
        self.pool = pool(self.clock, "1", "2")
        self.carried = {"1", "2"}
        self.source = endpointcreds.SvidSource(
            spiffe_id=ENDPOINT_ID,
            pool=lambda: self.pool,
            may_sign=lambda ca: ca.id in self.carried,
            lifetime=issue.LifetimePolicy(),
            clock=self.clock,
        )


def test_renewal_rule():
    held = endpointcreds.Held("1", START + dt.timedelta(hours=24), START + dt.timedelta(hours=12))
    assert endpointcreds.renewal_due(None, "1", START)
    assert not endpointcreds.renewal_due(held, "1", START + dt.timedelta(hours=11, minutes=59))
    assert endpointcreds.renewal_due(held, "1", START + dt.timedelta(hours=12))
    assert endpointcreds.renewal_due(held, "2", START)


def test_svid_has_the_spiffe_profile_and_verifies_against_the_pool():
    s = Setup()
    assert s.source.current() is None and s.source.problem
    assert s.source.refresh() and s.source.current() is not None and s.source.problem is None
    svid = s.source.certificate
    assert svid is not None
    san = svid.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value.get_values_for_type(x509.UniformResourceIdentifier) == [
        ENDPOINT_ID
    ]
    assert len(list(san.value)) == 1
    assert svid.extensions.get_extension_for_class(x509.KeyUsage).critical
    usages = svid.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    store = Store(list(s.pool.trust_anchors()))
    verifier = PolicyBuilder().store(store).time(START).build_client_verifier()
    verified = verifier.verify(svid, [])
    assert verified.chain[-1] == s.pool.signing_ca.root
    assert s.source.not_after == START - dt.timedelta(minutes=2) + dt.timedelta(hours=24)


def test_svid_is_renewed_at_begin_refresh_at_and_not_before():
    s = Setup()
    s.source.refresh()
    first = s.source.certificate
    assert first is not None
    # Issued at START with a 2-minute backdate and 24 h of life: refresh half way through.
    due = START - dt.timedelta(minutes=2) + dt.timedelta(hours=12)
    s.clock.advance((due - START).total_seconds() - 1)
    assert not s.source.refresh() and s.source.certificate is first
    s.clock.advance(1)
    assert s.source.refresh() and s.source.certificate.serial_number != first.serial_number


def test_svid_is_renewed_at_once_when_the_signing_ca_changes():
    s = Setup()
    s.source.refresh()
    s.clock.advance(60)
    s.pool = capool.CAPool((s.pool.get("2"), s.pool.get("1")))
    assert s.source.refresh()
    assert s.source.certificate.issuer == s.pool.get("2").root.subject


def test_svid_waits_for_the_published_bundle_and_keeps_the_old_one_meanwhile():
    s = Setup()
    s.carried = set()
    assert not s.source.refresh() and s.source.current() is None
    assert "not in the published bundle" in (s.source.problem or "")
    s.carried = {"1"}
    assert s.source.refresh()
    s.pool = capool.CAPool((s.pool.get("2"), s.pool.get("1")))
    assert not s.source.refresh()  # CA 2 is not carried yet: keep serving CA 1's SVID
    assert s.source.current() is not None and s.source.problem is None


def test_no_pool_no_svid():
    s = Setup()
    s.pool = None
    assert not s.source.refresh() and "not loaded" in (s.source.problem or "")


def self_signed(tmp_path, name):
    key = ec.generate_private_key(ec.SECP256R1())
    clock = FakeClock(dt.datetime.now(dt.UTC))
    ca = capool.new_pool(ca_id="w", name="web", clock=clock).cas[0]
    leaf = issue.issue_leaf(
        public_key=key.public_key(),
        profile=issue.LeafProfile(dns_names=("bundles.example",)),
        max_expiration_seconds=7200,
        ca=ca,
        clock=clock,
    )
    assert isinstance(leaf, issue.IssuedLeaf)
    cert, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert.write_text(leaf.chain_pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key_file, leaf.certificate


def test_web_files_load_and_reload_on_change_and_keep_the_last_good_pair(tmp_path, caplog):
    cert, key, first = self_signed(tmp_path, "a")
    files = endpointcreds.WebFiles(cert_file=cert, key_file=key)
    assert files.refresh() and files.certificate == first and files.problem is None
    assert not files.refresh()  # unchanged: one stat per file
    cert2, key2, second = self_signed(tmp_path, "b")
    cert.write_bytes(cert2.read_bytes())
    assert not files.refresh() and files.certificate == first  # key no longer matches
    key.write_bytes(key2.read_bytes())
    assert files.refresh() and files.certificate == second
    assert "PRIVATE KEY" not in caplog.text


def test_web_files_missing_is_a_problem(tmp_path):
    files = endpointcreds.WebFiles(cert_file=tmp_path / "x.crt", key_file=tmp_path / "x.key")
    assert not files.refresh() and files.current() is None and "unusable" in files.problem
