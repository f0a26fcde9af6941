"""StatusWriter: one place maps a decision and the API's answer to an outcome."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from meshtool.api import decisions
from meshtool.clock import FakeClock
from meshtool.controllers import metrics, status
from meshtool.kube import errors, resources
from meshtool.pki import capool, issue
from meshtool.testing import pcrforms

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
RESOURCE = resources.pod_certificate_requests("v1")
SIGNER = "row-major.net/spiffe"


def pcr_object(key, *, rv="5", conditions=None) -> dict:
    target = pcrforms.PodTarget("ns", "pod", "pod-uid", "sa", "sa-uid", "node", "node-uid")
    body = pcrforms.pcr_body(
        pcrforms.KeyForm.STUB, target, version="v1", signer_name=SIGNER, key=key
    )
    body["metadata"] = {"name": "req-1", "namespace": "ns", "uid": "u1", "resourceVersion": rv}
    body["spec"]["maxExpirationSeconds"] = 86400
    if conditions:
        body["status"] = {"conditions": conditions}
    return body


class FakeClient:
    def __init__(self, *, replace_error=None, fresh=None):
        self.replace_error, self.fresh = replace_error, fresh
        self.replaced: list[dict] = []
        self.created: list[dict] = []

    async def replace(self, resource, name, body, *, namespace=None, subresource=None):
        assert (resource, subresource) == (RESOURCE, "status")
        self.replaced.append(body)
        if self.replace_error is not None:
            raise self.replace_error
        return body

    async def get(self, resource, name, *, namespace=None):
        if self.fresh is None:
            raise errors.NotFound(404, {"reason": "NotFound"})
        return self.fresh

    async def create(self, resource, body, *, namespace=None):
        self.created.append(body)
        return body


@pytest.fixture
def key():
    return ec.generate_private_key(ec.SECP256R1())


def writer_for(client, clock):
    from meshtool.controllers import events

    recorder = events.EventRecorder(client, clock=clock, instance="test")
    return status.StatusWriter(client=client, resource=RESOURCE, recorder=recorder, clock=clock)


def issued(key, clock) -> decisions.Issued:
    pool = capool.new_pool(ca_id="1", name=SIGNER, clock=FakeClock(T0 - dt.timedelta(days=1)))
    leaf = issue.issue_leaf(
        public_key=key.public_key(),
        profile=issue.LeafProfile(uris=("spiffe://td/ns/ns/sa/sa",)),
        max_expiration_seconds=86400,
        ca=pool.signing_ca,
        clock=clock,
    )
    assert isinstance(leaf, issue.IssuedLeaf)
    return decisions.Issued(leaf.chain_pem, leaf.not_before, leaf.not_after, leaf.begin_refresh_at)


def written(signer=SIGNER) -> float:
    return metrics.STATUS_WRITES.labels(signer=signer, result="written")._value.get()


async def test_issued_status_is_put_with_the_cached_resource_version(key):
    clock = FakeClock(T0)
    client = FakeClient()
    cached = status.cached_pcr(pcr_object(key))
    before = written()
    assert (
        await writer_for(client, clock).write(cached, issued(key, clock)) is status.Outcome.WRITTEN
    )
    [body] = client.replaced
    assert body["metadata"]["resourceVersion"] == "5"
    assert body["status"]["conditions"][0]["type"] == "Issued"
    assert written() == before + 1


async def test_conflict_with_an_answered_object_is_done(key):
    clock = FakeClock(T0)
    answered = pcr_object(key, rv="6", conditions=[{"type": "Issued", "status": "True"}])
    client = FakeClient(replace_error=errors.Conflict(409, {}), fresh=answered)
    cached = status.cached_pcr(pcr_object(key))
    assert await writer_for(client, clock).write(cached, issued(key, clock)) is status.Outcome.DONE


async def test_conflict_with_an_unanswered_object_returns_the_fresh_one(key):
    clock = FakeClock(T0)
    client = FakeClient(replace_error=errors.Conflict(409, {}), fresh=pcr_object(key, rv="7"))
    outcome = await writer_for(client, clock).write(
        status.cached_pcr(pcr_object(key)), issued(key, clock)
    )
    assert isinstance(outcome, status.Stale) and outcome.fresh.rv == "7"


async def test_gone_request_is_done(key):
    clock = FakeClock(T0)
    client = FakeClient(replace_error=errors.NotFound(404, {}))
    denied = decisions.Denied("UnsupportedKeyType", "no")
    cached = status.cached_pcr(pcr_object(key))
    assert await writer_for(client, clock).write(cached, denied) is status.Outcome.DONE


@pytest.mark.parametrize(
    "error",
    [
        errors.Forbidden(403, {"message": "no sign verb"}),
        errors.Invalid(
            422, {"message": 'User "x" is not permitted to "sign" for signer: no sign verb'}
        ),
    ],
)
async def test_missing_permission_posts_a_warning_and_raises_for_backoff(key, error):
    clock = FakeClock(T0)
    client = FakeClient(replace_error=error)
    with pytest.raises(type(error)):
        await writer_for(client, clock).write(
            status.cached_pcr(pcr_object(key)), issued(key, clock)
        )
    [event] = client.created
    assert event["type"] == "Warning" and "no sign verb" in event["note"]
    assert event["regarding"]["name"] == "req-1"


async def test_an_issued_status_breaking_the_apiserver_rules_is_never_sent(key):
    clock = FakeClock(T0)
    client = FakeClient()
    other_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(RuntimeError, match="refusing to write an invalid status"):
        await writer_for(client, clock).write(
            status.cached_pcr(pcr_object(key)), issued(other_key, clock)
        )
    assert client.replaced == []


def test_terminal_requests_are_cached_without_their_raw_object(key):
    done = status.cached_pcr(pcr_object(key, conditions=[{"type": "Denied", "status": "True"}]))
    assert done.terminal and done.raw == {} and done.request is None
    pending = status.cached_pcr(pcr_object(key))
    assert not pending.terminal and pending.request is not None and pending.raw
