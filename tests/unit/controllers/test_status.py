"""StatusWriter: one place turns a decision into a status write and maps the API's answer."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from meshtool.api import decisions, pcr, types
from meshtool.clock import FakeClock
from meshtool.controllers import status
from meshtool.controllers.metrics import Metrics
from meshtool.kube import errors, resources
from meshtool.pki import capool, issue
from meshtool.runtime.controller import Requeue
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

    async def replace(
        self,
        resource,
        name,
        body,
        *,
        namespace=None,
        subresource=None,
        read_answer=True,
        send_if=None,
    ):
        assert (resource, subresource, read_answer) == (RESOURCE, "status", False)
        if send_if is not None and not send_if():
            raise errors.Withdrawn("withdrawn")
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

    metrics = Metrics()
    recorder = events.EventRecorder(client, clock=clock, instance="test", metrics=metrics)
    return status.StatusWriter(client=client, recorder=recorder, clock=clock, metrics=metrics)


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


def written(writer, signer=SIGNER) -> float:
    metrics = writer._metrics
    return metrics.status_writes.labels(signer=signer, result="written")._value.get()


def request(key, **kwargs) -> types.PodCertRequest:
    parsed = pcr.read(pcr_object(key, **kwargs))
    assert isinstance(parsed, types.PodCertRequest)
    return parsed


async def test_issued_status_is_put_with_the_requests_resource_version(key):
    clock = FakeClock(T0)
    client = FakeClient()
    writer = writer_for(client, clock)
    assert await writer.write(request(key), issued(key, clock)) is True
    [body] = client.replaced
    assert body["metadata"]["resourceVersion"] == "5"
    assert body["status"]["conditions"][0]["type"] == "Issued"
    assert "spec" not in body  # the status subresource takes only the status
    assert written(writer) == 1


async def test_nothing_is_sent_once_the_request_is_no_longer_ours(key):
    clock = FakeClock(T0)
    client = FakeClient()
    writer = writer_for(client, clock)
    with pytest.raises(Requeue, match="no longer ours"):
        await writer.write(request(key), issued(key, clock), still_ours=lambda: False)
    assert client.replaced == [] and written(writer) == 0


async def test_a_conflict_is_handed_back_to_the_queue_without_a_reread(key):
    clock = FakeClock(T0)
    client = FakeClient(replace_error=errors.Conflict(409, {}), fresh=pcr_object(key, rv="7"))
    writer = writer_for(client, clock)
    with pytest.raises(Requeue, match="changed since we read it"):
        await writer.write(request(key), issued(key, clock))
    assert written(writer) == 0
    assert writer._metrics.status_writes.labels(signer=SIGNER, result="conflict")._value.get() == 1


async def test_gone_request_is_done(key):
    clock = FakeClock(T0)
    client = FakeClient(replace_error=errors.NotFound(404, {}))
    denied = decisions.Denied("UnsupportedKeyType", "no")
    assert await writer_for(client, clock).write(request(key), denied) is False


async def test_an_unreadable_request_can_be_denied(key):
    clock = FakeClock(T0)
    client = FakeClient()
    obj = pcr_object(key)
    obj["spec"]["podUID"] = 5
    entry = pcr.read(obj)
    assert isinstance(entry, types.Unreadable)
    denied = decisions.Denied(decisions.INVALID_REQUEST, entry.error)
    assert await writer_for(client, clock).write(entry, denied) is True
    [body] = client.replaced
    assert body["metadata"] == {
        "name": "req-1",
        "namespace": "ns",
        "uid": "u1",
        "resourceVersion": "5",
    }


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
        await writer_for(client, clock).write(request(key), issued(key, clock))
    [event] = client.created
    assert event["type"] == "Warning" and "no sign verb" in event["note"]
    assert event["regarding"]["name"] == "req-1"


async def test_an_issued_status_breaking_the_apiserver_rules_is_never_sent(key):
    clock = FakeClock(T0)
    client = FakeClient()
    other_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(RuntimeError, match="refusing to write an invalid status"):
        await writer_for(client, clock).write(request(key), issued(other_key, clock))
    assert client.replaced == []


def test_two_writers_count_in_their_own_registries(key):
    first, second = writer_for(FakeClient(), FakeClock(T0)), writer_for(FakeClient(), FakeClock(T0))
    first._metrics.issued.labels(signer=SIGNER).inc()
    assert first._metrics.issued.labels(signer=SIGNER)._value.get() == 1
    assert second._metrics.issued.labels(signer=SIGNER)._value.get() == 0
