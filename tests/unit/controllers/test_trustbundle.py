"""The publisher's pure core: desired bundles from pools, and the create/update/delete plan."""

from __future__ import annotations

import datetime as dt

from meshtool.api import trustbundle
from meshtool.clock import FakeClock
from meshtool.controllers.trustbundle import BundleSpec, desired_bundles, plan
from meshtool.pki import capool

DNS = "row-major.net/service-dns"
SPIFFE = "row-major.net/spiffe"
PODID = "row-major.net/pod-identity"
MANAGED = {DNS, SPIFFE, PODID}


def pool(ca_id="1"):
    return capool.new_pool(ca_id=ca_id, name=DNS, clock=FakeClock(dt.datetime.now(dt.UTC)))


def bundle(name, signer, pem, labels=None, rv="1"):
    return trustbundle.TrustBundle(
        name=name, signer_name=signer, labels=labels or {}, pem=pem, resource_version=rv
    )


def test_desired_bundle_holds_every_root_of_the_pool_under_the_signer_linked_name():
    p = pool()
    two = capool.CAPool(cas=(*p.cas, *pool("2").cas))
    labels = {"service-dns.row-major.net/canarying": "live"}
    [want] = desired_bundles([BundleSpec(DNS, labels, two)]).values()
    assert want.name == "row-major.net:service-dns:primary-bundle"
    assert want.labels == labels
    assert len(trustbundle.certificates_der(want.pem)) == 2


def test_plan_creates_missing_updates_drift_and_deletes_disabled_signers_bundles():
    want = desired_bundles([BundleSpec(DNS, {"a": "b"}, pool())])
    name = "row-major.net:service-dns:primary-bundle"
    stale_spiffe = bundle("row-major.net:spiffe:primary-bundle", SPIFFE, want[name].pem)
    foreign = bundle("example.com:x:primary-bundle", "example.com/x", want[name].pem)
    assert plan(want, [stale_spiffe, foreign], managed_signers=MANAGED, keep_signers=set()).create
    todo = plan(want, [stale_spiffe, foreign], managed_signers=MANAGED, keep_signers=set())
    assert [d.name for d in todo.create] == [name]
    assert todo.delete == [stale_spiffe]  # ours, signer disabled; the foreign one is untouched
    drifted = bundle(name, DNS, want[name].pem, labels={"a": "edited"})
    todo = plan(want, [drifted], managed_signers=MANAGED, keep_signers=set())
    assert todo.create == [] and [have for _, have in todo.update] == [drifted]
    in_sync = bundle(name, DNS, want[name].pem, labels={"a": "b"})
    assert plan(want, [in_sync], managed_signers=MANAGED, keep_signers=set()).empty


def test_enabled_signer_without_a_loaded_pool_keeps_its_bundle():
    have = bundle("row-major.net:spiffe:primary-bundle", SPIFFE, "pem")
    specs = [BundleSpec(SPIFFE, {}, None)]
    todo = plan(desired_bundles(specs), [have], managed_signers=MANAGED, keep_signers={SPIFFE})
    assert todo.empty


def test_federated_bundles_of_our_signer_are_left_alone():
    want = desired_bundles([BundleSpec(SPIFFE, {}, pool())])
    peer = bundle("row-major.net:spiffe:federated.peer.example", SPIFFE, "pem")
    hashed = bundle("row-major.net:spiffe:federated-sha256.00ff", SPIFFE, "pem")
    todo = plan(want, [peer, hashed], managed_signers=MANAGED, keep_signers=set())
    assert todo.delete == [] and todo.update == []
