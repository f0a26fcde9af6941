"""Pool Secret and ClusterTrustBundle checks from observed objects, with the clock injected:
missing, unreadable, corrupt, expired, expiring without successor, and bundles missing,
drifted or unlabelled, each against the controller's own desired-bundle function."""

from __future__ import annotations

import base64
import datetime as dt

from meshtool.api import trustbundle
from meshtool.clock import FakeClock
from meshtool.controllers import trustbundle as publisher
from meshtool.doctor import pools
from meshtool.doctor.findings import Status
from meshtool.doctor.target import Target
from meshtool.pki import capool

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TARGET = Target()
SIGNER = "row-major.net/spiffe"
LABEL = "spiffe.row-major.net/canarying"


def pool(*, made_days_ago: float = 1, validity_days: float = 365) -> capool.CAPool:
    made = FakeClock(NOW - dt.timedelta(days=made_days_ago))
    return capool.new_pool(
        ca_id="1", name=SIGNER, clock=made, validity=dt.timedelta(days=validity_days)
    )


def read(data: dict[str, str] | None, error: str = "") -> pools.SecretRead:
    return pools.SecretRead("mesh-controller", "spiffe-ca-pool", data, error)


def secret_of(p: capool.CAPool) -> pools.SecretRead:
    return read({capool.SECRET_KEY: base64.b64encode(capool.dump(p)).decode()})


def bundle(p: capool.CAPool, *, labels: dict[str, str] | None = None) -> trustbundle.TrustBundle:
    [want] = publisher.desired_bundles([publisher.BundleSpec(SIGNER, {}, p)]).values()
    return trustbundle.TrustBundle(
        want.name, SIGNER, labels if labels is not None else {LABEL: "live"}, want.pem
    )


def test_healthy_pool():
    p = pool()
    [found], loaded = pools.pool_check(TARGET, "spiffe", secret_of(p), [bundle(p)], NOW)
    assert found.status is Status.OK and loaded is not None
    assert found.line() == (
        'ok    pool     Secret mesh-controller/spiffe-ca-pool: 1 CA(s) ("1" active); '
        "the active CA expires in 364 days"
    )


def test_missing_unreadable_and_corrupt():
    [missing], _ = pools.pool_check(TARGET, "spiffe", read(None), [], NOW)
    assert missing.status is Status.FAIL and missing.message == "not found"
    assert (
        "meshtool make-ca-pool-secret --namespace mesh-controller --name spiffe-ca-pool"
        in missing.hint
    )
    [forbidden], _ = pools.pool_check(TARGET, "spiffe", read(None, "forbidden (HTTP 403)"), [], NOW)
    assert forbidden.message == "cannot read it: forbidden (HTTP 403)"
    [no_key], _ = pools.pool_check(TARGET, "spiffe", read({"other": "eA=="}), [], NOW)
    assert no_key.message == "has no data key 'pool'"
    [not_b64], _ = pools.pool_check(TARGET, "spiffe", read({"pool": "!!"}), [], NOW)
    assert not_b64.message.startswith("does not hold a valid CA pool")
    junk = base64.b64encode(b'{"CAs": []}').decode()
    [empty], loaded = pools.pool_check(TARGET, "spiffe", read({"pool": junk}), [], NOW)
    assert empty.status is Status.FAIL and loaded is None and "valid CA pool" in empty.message


def test_expired_fails_and_expiring_warns():
    expired = pool(made_days_ago=40, validity_days=30)
    [found], _ = pools.pool_check(TARGET, "spiffe", secret_of(expired), [bundle(expired)], NOW)
    assert found.status is Status.FAIL and 'the active CA "1" expired at' in found.message
    expiring = pool(made_days_ago=40, validity_days=60)
    [found], _ = pools.pool_check(TARGET, "spiffe", secret_of(expiring), [bundle(expiring)], NOW)
    assert found.status is Status.WARN
    assert found.message == 'the active CA "1" expires in 20.0 days with no successor'
    young = pool(made_days_ago=1, validity_days=20)  # rotation is not due yet: no warning
    [found], _ = pools.pool_check(TARGET, "spiffe", secret_of(young), [bundle(young)], NOW)
    assert found.status is Status.OK


def test_bundle_equal_missing_different_unlabelled():
    p, other = pool(), pool()
    assert pools.bundle_check(TARGET, "spiffe", p, [bundle(p)]).status is Status.OK
    missing = pools.bundle_check(TARGET, "spiffe", p, [trustbundle.TrustBundle("x", SIGNER)])
    assert missing.status is Status.FAIL and missing.message == "missing"
    drifted = pools.bundle_check(TARGET, "spiffe", p, [bundle(other)])
    assert drifted.status is Status.FAIL
    assert drifted.message == (
        'differs from the pool (lacks CA(s) "1"; carries 1 certificate(s) not in the pool)'
    )
    bare = pools.bundle_check(TARGET, "spiffe", p, [bundle(p, labels={})])
    assert bare.status is Status.WARN and bare.message == f"lacks the label {LABEL}=live"
    skipped = pools.bundle_check(TARGET, "spiffe", None, [bundle(p)])
    assert skipped.status is Status.WARN and "not compared" in skipped.message
