"""The federation reconciler and sweeper against seeded caches and a recording client, with
the fetch replaced and a FakeClock: no network, no sleeping."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from meshtool.api import federation, spiffebundle, trustbundle
from meshtool.api.federation import Federation
from meshtool.clock import FakeClock
from meshtool.controllers import bundlefetch, peerschedule
from meshtool.controllers import federation as controller
from meshtool.controllers.metrics import Metrics
from meshtool.kube import resources
from meshtool.kube.resources import Resource
from meshtool.pki import capool

SIGNER = "row-major.net/spiffe"
CTB = resources.cluster_trust_bundles("v1")
FTDS = Resource(federation.GROUP, federation.VERSION, federation.PLURAL, False)
CONTEXT = controller.Context(
    signer_name=SIGNER,
    domain="row-major.net",
    trust_domain="cluster.local",
    ctb=CTB,
    federations=FTDS,
    timing=peerschedule.Timing(min_refresh=10, max_refresh=3600),
    limits=bundlefetch.Limits(timeout=1),
)
NAME = "row-major.net:spiffe:federated.peer.example"


class Recorder:
    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []

    async def post(self, regarding, *, type_, reason, action, note):
        self.posted.append({"regarding": regarding, "reason": reason, "note": note})


class Cluster:
    """The client and the caches it feeds: a write shows in the cache at once."""

    def __init__(self) -> None:
        self.bundles: dict[str, trustbundle.TrustBundle] = {}
        self.feds: dict[str, Federation] = {}
        self.writes: list[tuple[str, str]] = []

    async def create(self, resource, body, *, namespace=None):
        self.writes.append(("create", body["metadata"]["name"]))
        self.bundles[body["metadata"]["name"]] = trustbundle.parse(
            body | {"metadata": body["metadata"] | {"resourceVersion": "1"}}
        )
        return body

    async def replace(self, resource, name, body, *, namespace=None, subresource=None):
        self.writes.append(("replace", name))
        self.bundles[name] = trustbundle.parse(body)
        return body

    async def patch(self, resource, name, body, *, namespace=None, subresource=None):
        assert (resource, subresource) == (FTDS, "status")
        self.writes.append(("status", name))
        status = {k: v for k, v in body["status"].items() if v is not None}
        self.feds[name] = dataclasses.replace(self.feds[name], status=status)
        return body

    async def delete(self, resource, name, *, namespace=None, uid=None):
        self.writes.append(("delete", name))
        del self.bundles[name]


@pytest.fixture
def roots():
    clock = FakeClock(dt.datetime.now(dt.UTC))
    return [capool.generate_ca(ca_id=i, name="peer", clock=clock).root for i in ("1", "2")]


@pytest.fixture
def world(monkeypatch, roots):
    cluster, answers = Cluster(), []
    clock = FakeClock(dt.datetime.now(dt.UTC).replace(microsecond=0))

    async def fetch(target, limits):
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(bundlefetch, "fetch", fetch)
    owned = {"value": True}
    recorder = Recorder()
    reconciler = controller.FederationReconciler(
        client=cluster,  # type: ignore[arg-type]
        context=CONTEXT,
        lookup=cluster.feds.get,
        everything=lambda: list(cluster.feds.values()),
        bundle=cluster.bundles.get,
        owns=lambda key: owned["value"],
        clock=clock,
        metrics=Metrics(),
        recorder=recorder,  # type: ignore[arg-type]
    )
    cluster.feds["peer"] = Federation(
        name="peer",
        uid="u",
        generation=1,
        trust_domain="peer.example",
        url="https://peer.example/",
        profile=federation.HTTPS_WEB,
    )
    return cluster, clock, answers, reconciler, owned, recorder


def body(*certs, sequence=1, hint=60) -> bytes:
    return spiffebundle.encode(spiffebundle.SpiffeBundle(certs, sequence, hint))


async def test_a_good_fetch_publishes_once_and_waits_for_the_hint(world, roots):
    cluster, clock, answers, reconciler, _, _ = world
    answers.append(body(roots[0]))
    result = await reconciler.reconcile("peer")
    assert result is not None and result.requeue_after == 60
    published = cluster.bundles[NAME]
    assert published.signer_name == SIGNER
    assert published.labels["k8s.spiffe.io/peer-trust-domain"] == "peer.example"
    assert published.annotations == {
        "spiffe.row-major.net/bundle-sequence": "1",
        "spiffe.row-major.net/refresh-hint": "60",
    }
    status = cluster.feds["peer"].status
    assert status["sequence"] == 1 and status["conditions"][0]["status"] == "True"
    assert cluster.writes == [("create", NAME), ("status", "peer")]
    # Not due yet: nothing fetched, nothing written, the rest of the wait.
    clock.advance(20)
    result = await reconciler.reconcile("peer")
    assert result is not None and result.requeue_after == 40
    assert len(cluster.writes) == 2
    # Due, same bundle: no CTB write, only the status' new times.
    clock.advance(40)
    await reconciler.reconcile("peer")
    assert cluster.writes[2:] == [("status", "peer")]


async def test_failures_keep_the_bundle_and_back_off_up_to_the_hint(world, roots):
    cluster, clock, answers, reconciler, _, recorder = world
    answers.append(body(roots[0]))
    await reconciler.reconcile("peer")
    answers[:] = [bundlefetch.FetchError("tls", "TLS failed")]
    delays = []
    for _ in range(5):
        clock.advance(3600)
        result = await reconciler.reconcile("peer")
        assert result is not None
        delays.append(result.requeue_after)
    assert delays == [10, 20, 40, 60, 60]
    assert [w for w in cluster.writes if w[0] != "status"] == [("create", NAME)]
    status = cluster.feds["peer"].status
    assert "TLS failed" in status["lastError"] and status["consecutiveFailures"] == 5
    assert status["sequence"] == 1 and status["conditions"][0]["reason"] == "FetchFailed"
    assert len(recorder.posted) == 5 and recorder.posted[0]["reason"] == "BundleFetchFailed"
    answers[:] = [body(roots[0], roots[1], sequence=2)]
    clock.advance(3600)
    await reconciler.reconcile("peer")
    assert len(trustbundle.certificates_der(cluster.bundles[NAME].pem)) == 2
    assert "lastError" not in cluster.feds["peer"].status


async def test_a_bad_bundle_and_a_lower_sequence_change_nothing(world, roots):
    cluster, clock, answers, reconciler, _, _ = world
    answers.append(body(roots[0], sequence=5))
    await reconciler.reconcile("peer")
    for bad, says in [(b"{}", "no 'keys' list"), (body(roots[1], sequence=4), "lower than")]:
        answers[:] = [bad]
        clock.advance(3600)
        await reconciler.reconcile("peer")
        assert says in cluster.feds["peer"].status["lastError"]
        assert cluster.bundles[NAME].annotations["spiffe.row-major.net/bundle-sequence"] == "5"


async def test_conflicts_and_bad_specs_are_reported_without_fetching(world):
    cluster, _, answers, reconciler, _, _ = world
    answers.append(bundlefetch.FetchError("connect", "must not be called"))
    cluster.feds["second"] = dataclasses.replace(cluster.feds["peer"], name="second")
    cluster.feds["own"] = dataclasses.replace(
        cluster.feds["peer"], name="own", trust_domain="cluster.local"
    )
    cluster.feds["bad"] = Federation(name="bad", problem="spec.trustDomain 'X' must be ...")
    for name, reason, says in [
        ("second", "Conflict", "FederatedTrustDomain peer already federates"),
        ("own", "Conflict", "own trust domain"),
        ("bad", "InvalidSpec", "spec.trustDomain"),
    ]:
        assert await reconciler.reconcile(name) is None
        condition = cluster.feds[name].status["conditions"][0]
        assert (condition["reason"], condition["status"]) == (reason, "False")
        assert says in condition["message"]
    writes = len(cluster.writes)
    await reconciler.reconcile("second")  # unchanged status: not written again
    assert len(cluster.writes) == writes


async def test_another_replicas_key_is_looked_at_after_a_lease(world):
    _, _, _, reconciler, owned, _ = world
    owned["value"] = False
    result = await reconciler.reconcile("peer")
    assert result is not None and result.requeue_after == CONTEXT.not_mine_requeue


async def test_a_restart_takes_the_schedule_and_the_trust_from_status_and_ctb(world, roots):
    cluster, clock, answers, reconciler, _, _ = world
    answers.append(body(roots[0]))
    await reconciler.reconcile("peer")
    fresh = controller.FederationReconciler(
        client=cluster,  # type: ignore[arg-type]
        context=CONTEXT,
        lookup=cluster.feds.get,
        everything=lambda: list(cluster.feds.values()),
        bundle=cluster.bundles.get,
        owns=lambda key: True,
        clock=clock,
        metrics=Metrics(),
        recorder=Recorder(),  # type: ignore[arg-type]
    )
    clock.advance(30)
    result = await fresh.reconcile("peer")
    assert result is not None and result.requeue_after == 30  # the status' nextFetchTime
    assert len(cluster.writes) == 2


async def test_sweeper_deletes_only_federated_bundles_nobody_names(world, roots):
    cluster, _, answers, reconciler, _, _ = world
    answers.append(body(roots[0]))
    await reconciler.reconcile("peer")
    own = "row-major.net:spiffe:primary-bundle"
    gone = "row-major.net:spiffe:federated.gone.example"
    for name in (own, gone):
        cluster.bundles[name] = trustbundle.TrustBundle(name, SIGNER, pem="x")
    sweeper = controller.Sweeper(
        client=cluster,  # type: ignore[arg-type]
        context=CONTEXT,
        everything=lambda: list(cluster.feds.values()),
        bundles=lambda: list(cluster.bundles.values()),
        synced=lambda: True,
        owns=lambda key: key == controller.SWEEP_KEY,
    )
    assert [b.name for b in sweeper.orphans()] == [gone]
    await sweeper.sync()
    assert sorted(cluster.bundles) == sorted([own, NAME])
    del cluster.feds["peer"]
    await sweeper.sync()
    assert sorted(cluster.bundles) == [own]


def series(reconciler, name: str) -> list[dict[str, str]]:
    registry = reconciler._metrics.registry
    return [s.labels for m in registry.collect() for s in m.samples if s.name == name]


async def test_deleting_the_object_drops_its_trust_domains_series(world, roots):
    cluster, clock, answers, reconciler, _, _ = world
    answers.extend([bundlefetch.FetchError("tls", "handshake failed"), body(roots[0])])
    await reconciler.reconcile("peer")
    clock.advance(3600)
    await reconciler.reconcile("peer")
    fetched = series(reconciler, "meshtool_federation_fetches_total")
    assert {s["result"] for s in fetched} == {"tls", "success"}
    assert series(reconciler, "meshtool_federation_published_sequence")
    del cluster.feds["peer"]
    await reconciler.reconcile("peer")
    for name in ("fetches_total", "last_success_timestamp_seconds", "published_sequence"):
        assert series(reconciler, f"meshtool_federation_{name}") == [], name
