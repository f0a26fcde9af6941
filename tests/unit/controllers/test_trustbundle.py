"""The publisher's pure core: desired bundles from pools, and the create/update/delete plan."""

from __future__ import annotations

import dataclasses
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


SEQ = "spiffe.row-major.net/bundle-sequence"
SPIFFE_NAME = "row-major.net:spiffe:primary-bundle"


def spiffe_bundle(pem, seq=None, labels=None):
    have = bundle(SPIFFE_NAME, SPIFFE, pem, labels=labels)
    notes = {SEQ: seq} if seq is not None else {}
    return trustbundle.TrustBundle(**{**_fields(have), "annotations": notes})


def _fields(b):
    return {f: getattr(b, f) for f in ("name", "signer_name", "labels", "pem", "resource_version")}


def spiffe_want(p, labels=None):
    return desired_bundles([BundleSpec(SPIFFE, labels or {"l": "v"}, p, SEQ)])


def test_sequence_starts_at_one_on_create():
    [created] = plan(spiffe_want(pool()), [], managed_signers=MANAGED, keep_signers=set()).create
    assert created.annotations == {SEQ: "1"}


def test_sequence_grows_on_content_change_only():
    old, new = spiffe_want(pool("1")), spiffe_want(pool("2"))
    have = spiffe_bundle(old[SPIFFE_NAME].pem, "7", labels={"l": "v"})
    [(changed, _)] = plan(new, [have], managed_signers=MANAGED, keep_signers=set()).update
    assert changed.annotations == {SEQ: "8"}
    assert plan(old, [have], managed_signers=MANAGED, keep_signers=set()).empty
    relabelled = {SPIFFE_NAME: dataclasses.replace(old[SPIFFE_NAME], labels={"l": "other"})}
    [(kept, _)] = plan(relabelled, [have], managed_signers=MANAGED, keep_signers=set()).update
    assert kept.annotations == {SEQ: "7"}


def test_a_missing_or_broken_sequence_is_repaired():
    want = spiffe_want(pool("1"))
    pem = want[SPIFFE_NAME].pem
    for broken in (None, "", "x", "0", "-3"):
        have = spiffe_bundle(pem, broken, labels={"l": "v"})
        [(fixed, _)] = plan(want, [have], managed_signers=MANAGED, keep_signers=set()).update
        assert fixed.annotations == {SEQ: "1"}, broken
    stale = spiffe_bundle("other pem", None, labels={"l": "v"})
    [(fixed, _)] = plan(want, [stale], managed_signers=MANAGED, keep_signers=set()).update
    assert fixed.annotations == {SEQ: "2"}  # content changed: above any sequence served before


def test_bundles_without_a_sequence_annotation_get_none():
    [created] = plan(
        desired_bundles([BundleSpec(DNS, {}, pool())]), [], managed_signers=MANAGED,
        keep_signers=set(),
    ).create  # fmt: skip
    assert created.annotations == {}
