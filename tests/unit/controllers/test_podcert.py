"""The PCR reconciler's guard checklist, driven directly with seeded caches (no API, no sleep)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from meshtool.api import decisions, pcr, types
from meshtool.clock import FakeClock
from meshtool.controllers import cache, podcert
from meshtool.controllers.metrics import Metrics
from meshtool.runtime.controller import Requeue, Result

SIGNER = "row-major.net/spiffe"


class Store:
    def __init__(self, items=None, synced=True):
        self.items = dict(items or {})
        self.has_synced = synced

    def get(self, key):
        return self.items.get(key)

    def by_index(self, name, value):
        return [v for v in self.items.values() if v.namespace == value]


def request(**overrides) -> types.PodCertRequest:
    fields = dict(
        namespace="ns",
        name="req-1",
        uid="pcr-uid",
        resource_version="7",
        api_version="certificates.k8s.io/v1",
        signer_name=SIGNER,
        pod_name="pod",
        pod_uid="pod-uid",
        service_account_name="sa",
        service_account_uid="sa-uid",
        node_name="node-1",
        node_uid="node-uid",
        max_expiration_seconds=86400,
        key_source=types.KeySource.STUB_PKCS10,
        public_key=None,
        key_type=types.KeyType.ED25519,
        key_error=None,
    )
    fields.update(overrides)
    return types.PodCertRequest(**fields)


def cached(req: types.PodCertRequest | None = None, *, rv="7", terminal=False, signer=SIGNER):
    """The informer's entry for ns/req-1: the request, or what is left of an answered one."""
    if terminal:
        return types.Answered("ns", "req-1", signer, types.Terminal.ISSUED)
    return dataclasses.replace(req or request(), resource_version=rv, signer_name=signer)


def cluster(pod_uid="pod-uid") -> cache.ClusterCache:
    pod = types.PodView("ns", "pod", pod_uid, {"app": "x"}, "sa", "node-1")
    return cache.ClusterCache(
        pods=Store({"ns/pod": pod}),
        services=Store(),
        service_accounts=Store({"ns/sa": types.ServiceAccountView("ns", "sa", "sa-uid")}),
        nodes=Store({"node-1": types.NodeView("node-1", "node-uid")}),
    )


class FakeSigner:
    signer_name = SIGNER

    def __init__(self, decision):
        self.decision = decision
        self.calls = 0

    def decide(self, request, *, view, pool, clock):
        self.calls += 1
        self.last = request
        return self.decision


class FakeWriter:
    """Records writes; each outcome is True (written), False (gone) or an exception to raise."""

    def __init__(self, outcomes=None):
        self.writes: list[tuple[str, str, object]] = []
        self.targets: list[object] = []
        self.warnings: list[tuple[str, str]] = []
        self.outcomes = list(outcomes or [])

    async def write(self, item, decision, *, still_ours=lambda: True):
        self.still_ours = still_ours
        self.writes.append((item.key, item.resource_version, decision))
        self.targets.append(item)
        outcome = self.outcomes.pop(0) if self.outcomes else True
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def warn(self, item, reason, message):
        self.warnings.append((reason, message))


ISSUED = decisions.Issued(
    chain_pem="-----BEGIN CERTIFICATE-----\n...",
    not_before=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    not_after=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    begin_refresh_at=dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC),
)


A_POOL = object()


def make(item, *, decision=ISSUED, owns=True, view=None, writer=None, pool=A_POOL):
    clock = FakeClock()
    signer = FakeSigner(decision)
    writer = writer or FakeWriter()
    store = {"ns/req-1": item} if item else {}
    reconciler = podcert.PodCertReconciler(
        lookup=store.get,
        signers={SIGNER: signer},
        pools=lambda name: pool,
        view=view or cluster(),
        owns=lambda key: owns,
        writer=writer,
        clock=clock,
        metrics=Metrics(),
    )
    return reconciler, signer, writer, clock, store


async def test_gone_request_is_dropped():
    reconciler, signer, writer, *_ = make(None)
    assert await reconciler.reconcile("ns/req-1") is None
    assert signer.calls == 0 and writer.writes == []


async def test_other_signer_is_ignored():
    reconciler, signer, writer, *_ = make(cached(signer="example.com/other"))
    assert await reconciler.reconcile("ns/req-1") is None
    assert signer.calls == 0 and writer.writes == []


async def test_terminal_request_is_left_alone():
    reconciler, _signer, writer, *_ = make(cached(terminal=True))
    assert await reconciler.reconcile("ns/req-1") is None
    assert writer.writes == []


async def test_other_replicas_key_is_revisited_after_a_lease_duration():
    reconciler, signer, writer, *_ = make(cached(), owns=False)
    assert await reconciler.reconcile("ns/req-1") == Result(requeue_after=15.0)
    assert signer.calls == 0 and writer.writes == []


async def test_the_writer_asks_for_ownership_again_just_before_sending():
    owned = {"now": True}
    reconciler, _signer, writer, *_ = make(cached())
    reconciler._owns = lambda key: owned["now"]
    await reconciler.reconcile("ns/req-1")
    assert writer.still_ours() is True
    owned["now"] = False  # the Lease was lost between deciding and writing (a frozen replica)
    assert writer.still_ours() is False


async def test_issued_decision_is_written_once_per_resource_version():
    reconciler, _signer, writer, *_ = make(cached())
    assert await reconciler.reconcile("ns/req-1") is None
    assert await reconciler.reconcile("ns/req-1") is None  # stale cache, same rv: no second write
    assert writer.writes == [("ns/req-1", "7", ISSUED)]


async def test_uid_mismatch_requeues_briefly_then_denies():
    reconciler, signer, writer, clock, _ = make(cached(), view=cluster(pod_uid="other-uid"))
    assert await reconciler.reconcile("ns/req-1") == Result(requeue_after=1.0)
    clock.advance(29)
    assert await reconciler.reconcile("ns/req-1") == Result(requeue_after=1.0)
    clock.advance(2)
    assert await reconciler.reconcile("ns/req-1") is None
    [(_, _, decision)] = writer.writes
    assert isinstance(decision, decisions.Denied)
    assert decision.reason == decisions.IDENTITY_MISMATCH
    assert "pod ns/pod has UID other-uid" in decision.message
    assert signer.calls == 0


async def test_mismatch_that_resolves_is_issued():
    view = cluster(pod_uid="other-uid")
    reconciler, _signer, writer, _clock, _ = make(cached(), view=view)
    assert await reconciler.reconcile("ns/req-1") == Result(requeue_after=1.0)
    view.pods.items["ns/pod"] = dataclasses.replace(view.pods.items["ns/pod"], uid="pod-uid")
    assert await reconciler.reconcile("ns/req-1") is None
    assert writer.writes[0][2] is ISSUED


async def test_held_request_warns_once_and_waits_for_what_its_signer_named():
    wake_on = (decisions.service("ns", "web"), decisions.pod("ns", "pod"))
    wait = decisions.NotYet(
        decisions.NO_MATCHING_SERVICE, "no Service selects pod ns/pod", 300.0, wake_on
    )
    reconciler, _signer, writer, *_ = make(cached(), decision=wait)
    assert await reconciler.reconcile("ns/req-1") == Result(requeue_after=300.0)
    assert await reconciler.reconcile("ns/req-1") == Result(requeue_after=300.0)
    assert writer.warnings == [(decisions.NO_MATCHING_SERVICE, "no Service selects pod ns/pod")]
    assert writer.writes == []
    assert reconciler.wakeups.waiting_on(decisions.service("ns", "web")) == ["ns/req-1"]
    assert reconciler.wakeups.waiting_on(decisions.pod("ns", "pod")) == ["ns/req-1"]
    assert reconciler.wakeups.waiting_on(decisions.service("other", "web")) == []
    reconciler.forget("ns/req-1")
    assert reconciler.wakeups.waiting_on(decisions.service("ns", "web")) == []


async def test_a_held_request_is_waiting_before_its_warning_is_posted():
    wake_on = (decisions.service("ns", "web"),)
    wait = decisions.NotYet(decisions.NO_MATCHING_SERVICE, "no Service yet", 300.0, wake_on)
    reconciler, _signer, writer, *_ = make(cached(), decision=wait)
    seen_while_warning: list[list[str]] = []

    async def warn(item, reason, message):
        seen_while_warning.append(reconciler.wakeups.waiting_on(wake_on[0]))

    writer.warn = warn
    assert await reconciler.reconcile("ns/req-1") == Result(requeue_after=300.0)
    assert seen_while_warning == [["ns/req-1"]]


async def test_a_held_request_that_is_answered_stops_waiting():
    wake_on = (decisions.service("ns", "web"),)
    wait = decisions.NotYet(decisions.NO_MATCHING_SERVICE, "no Service yet", 300.0, wake_on)
    reconciler, signer, writer, *_ = make(cached(), decision=wait)
    await reconciler.reconcile("ns/req-1")
    signer.decision = ISSUED
    assert await reconciler.reconcile("ns/req-1") is None
    assert reconciler.wakeups.waiting_on(decisions.service("ns", "web")) == []
    assert writer.writes == [("ns/req-1", "7", ISSUED)]


@pytest.mark.parametrize(("retry_after", "expected"), [(7.0, 7.0), (None, 30.0)])
async def test_a_signers_retry_interval_is_honoured(retry_after, expected):
    wait = decisions.NotYet("SomeReason", "not yet", retry_after)
    reconciler, *_ = make(cached(), decision=wait)
    assert await reconciler.reconcile("ns/req-1") == Result(requeue_after=expected)


async def test_missing_pool_holds_instead_of_failing():
    reconciler, _signer, writer, *_ = make(cached(), pool=None)
    result = await reconciler.reconcile("ns/req-1")
    assert result == Result(requeue_after=30.0)
    assert writer.writes == [] and writer.warnings[0][0] == decisions.CA_UNAVAILABLE


async def test_a_conflict_goes_back_to_the_queue_and_the_retry_decides_on_the_fresh_entry():
    writer = FakeWriter(outcomes=[Requeue("ns/req-1 changed since we read it")])
    reconciler, signer, writer, _clock, store = make(cached(), writer=writer)
    with pytest.raises(Requeue):
        await reconciler.reconcile("ns/req-1")
    store["ns/req-1"] = cached(rv="9")  # the informer caught up
    assert await reconciler.reconcile("ns/req-1") is None
    assert [(k, rv) for k, rv, _ in writer.writes] == [("ns/req-1", "7"), ("ns/req-1", "9")]
    assert signer.calls == 2


async def test_a_request_answered_elsewhere_after_a_conflict_is_left_alone():
    writer = FakeWriter(outcomes=[Requeue("changed")])
    reconciler, signer, writer, _clock, store = make(cached(), writer=writer)
    with pytest.raises(Requeue):
        await reconciler.reconcile("ns/req-1")
    store["ns/req-1"] = cached(terminal=True)  # another replica answered it
    assert await reconciler.reconcile("ns/req-1") is None
    assert signer.calls == 1 and len(writer.writes) == 1


async def test_a_request_gone_at_write_time_is_not_remembered_as_answered():
    reconciler, *_ = make(cached(), writer=FakeWriter(outcomes=[False]))
    assert await reconciler.reconcile("ns/req-1") is None
    assert reconciler._memory.answered == {}


async def test_malformed_request_is_denied_with_its_error():
    item = types.Unreadable(
        "ns",
        "req-1",
        "pcr-uid",
        "7",
        "certificates.k8s.io/v1",
        SIGNER,
        "ns/req-1: spec.podUID is missing",
    )
    reconciler, _signer, writer, *_ = make(item)
    await reconciler.reconcile("ns/req-1")
    [(_, _, decision)] = writer.writes
    assert decision == decisions.Denied(
        decisions.INVALID_REQUEST, "ns/req-1: spec.podUID is missing"
    )


async def test_legacy_request_is_decided_on_its_v1beta1_view():
    from meshtool.api.types import KeyType
    from meshtool.testing import pcrforms

    key = pcrforms.generate_key(KeyType.ECDSAP256)
    target = pcrforms.PodTarget("ns", "pod", "pod-uid", "sa", "sa-uid", "node-1", "node-uid")
    legacy = pcrforms.pcr_body(
        pcrforms.KeyForm.PKIX, target, version="v1beta1", signer_name=SIGNER, key=key
    )
    legacy["metadata"] = {"name": "req-1", "namespace": "ns", "uid": "u", "resourceVersion": "7"}
    legacy["spec"]["maxExpirationSeconds"] = 86400
    as_v1 = {
        **legacy,
        "apiVersion": "certificates.k8s.io/v1",
        "spec": {
            k: v
            for k, v in legacy["spec"].items()
            if k not in ("pkixPublicKey", "proofOfPossession")
        },
    }
    item = pcr.read(as_v1)
    assert isinstance(item, types.PodCertRequest) and item.public_key is None
    reads: list[tuple[str, str]] = []

    async def read_legacy(request):
        reads.append((request.namespace, request.name))
        return pcr.parse(legacy)

    signer = FakeSigner(ISSUED)
    writer = FakeWriter()
    reconciler = podcert.PodCertReconciler(
        lookup={"ns/req-1": item}.get,
        signers={SIGNER: signer},
        pools=lambda n: A_POOL,
        view=cluster(),
        owns=lambda k: True,
        writer=writer,
        clock=FakeClock(),
        metrics=Metrics(),
        legacy_reader=read_legacy,
    )
    assert await reconciler.reconcile("ns/req-1") is None
    assert reads == [("ns", "req-1")]
    [(_, rv, decision)] = writer.writes
    assert rv == "7" and decision is ISSUED
    assert signer.last.public_key is not None  # decided with the key v1beta1 shows
    assert writer.targets[0].api_version == "certificates.k8s.io/v1beta1"  # and answered there
