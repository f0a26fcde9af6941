"""Live replicas from Leases, ownership by rendezvous hashing, and change detection."""

from __future__ import annotations

import datetime as dt

import pytest

from meshtool.clock import FakeClock
from meshtool.kube import errors
from meshtool.sharding import leases, membership, rendezvous

T0 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
ME = leases.Identity("mesh-controller", "r-0", "uid-0", "app")


def lease(holder: str, renewed: dt.datetime, duration: int = 15) -> leases.ReplicaLease:
    return leases.ReplicaLease(holder, f"uid-{holder}", holder, renewed, duration, "1")


def test_single_replica_owns_everything():
    single = membership.Membership(
        identity=None, client=RecordingClient(), cached_leases=tuple, clock=FakeClock(T0)
    )
    assert single.owns("ns/a") and single.live_replicas() == ("single-replica",)


async def test_live_set_follows_lease_expiry_and_includes_ourselves():
    clock = FakeClock(T0)
    cached = [lease("r-1", T0), lease("r-2", T0 - dt.timedelta(seconds=10))]
    client = RecordingClient()
    m = membership.Membership(identity=ME, client=client, cached_leases=lambda: cached, clock=clock)
    await m._renew()
    seen(cached, client)
    assert m.refresh() and m.current == ("r-0", "r-1", "r-2")
    assert not m.refresh()  # unchanged
    clock.advance(6)  # r-2 renewed 16 s ago with a 15 s lease: dead
    assert m.refresh() and m.current == ("r-0", "r-1")
    keys = [f"ns/req-{i}" for i in range(200)]
    mine = [k for k in keys if m.owns(k)]
    assert mine == rendezvous.owned(keys, "r-0", ("r-0", "r-1"))
    assert 50 < len(mine) < 150


def test_lease_body_is_owned_by_the_pod_and_labelled():
    body = leases.lease_body(ME, now=T0, duration_seconds=15)
    assert body["metadata"]["labels"] == {leases.APPLICATION_LABEL: "app"}
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-0"
    assert body["spec"]["renewTime"] == "2026-06-01T00:00:00.000000Z"
    view = leases.lease_view({**body, "metadata": {**body["metadata"], "uid": "x"}})
    assert view.live(T0 + dt.timedelta(seconds=14)) and not view.live(T0 + dt.timedelta(seconds=15))


async def test_no_key_is_ours_until_we_hold_our_lease_nor_once_it_lapses():
    """A replica frozen or cut off past its Lease was counted dead and its share taken over:
    from its stale view it must act on nothing until it has renewed."""
    clock = FakeClock(T0)
    client = RecordingClient()
    cached: list[leases.ReplicaLease] = []
    m = membership.Membership(identity=ME, client=client, cached_leases=lambda: cached, clock=clock)
    assert not m.owns("ns/a") and not m.holds_lease()  # never renewed yet
    assert m.refresh() and m.current == ()
    await m._renew()
    assert not m.holds_lease()  # renewed, but our cache has not seen it: it may be stale
    seen(cached, client)
    assert not m.owns("ns/a")  # held, but the live set is recomputed on the next tick
    assert m.refresh() and m.current == ("r-0",) and m.owns("ns/a")
    clock.advance(12.9)  # 15 s lease, 2 s margin: still ours
    assert m.owns("ns/a") and not m.refresh()
    clock.advance(0.2)  # no renewal for 13.1 s: the others may count us dead any moment
    assert not m.owns("ns/a") and m.refresh() and m.current == ()
    await m._renew()
    seen(cached, client)
    assert m.refresh() and m.current == ("r-0",) and m.owns("ns/a")
    assert len(client.created) == 2


async def test_a_failed_renewal_does_not_extend_the_hold():
    clock = FakeClock(T0)
    client = RecordingClient()
    cached: list[leases.ReplicaLease] = []
    m = membership.Membership(identity=ME, client=client, cached_leases=lambda: cached, clock=clock)
    await m._renew()
    seen(cached, client)
    assert m.holds_lease()
    clock.advance(10)
    client.fail = True
    with pytest.raises(errors.TransportError):
        await m._renew()
    clock.advance(3.1)
    assert not m.owns("ns/a")


class RecordingClient:
    def __init__(self):
        self.deleted: list[tuple[str, str | None]] = []
        self.created: list[dict] = []
        self.fail = False

    async def create(self, resource, body, *, namespace=None):
        if self.fail:
            raise errors.TransportError("POST leases: connection refused")
        self.created.append(body)
        return {**body, "metadata": {**body["metadata"], "resourceVersion": str(len(self.created))}}

    async def delete(self, resource, name, *, namespace=None, uid=None):
        self.deleted.append((name, uid))

    async def replace(self, resource, name, body, *, namespace=None):
        return await self.create(resource, body, namespace=namespace)


def seen(cached: list, client: RecordingClient, holder: str = "r-0") -> None:
    """The Lease informer delivers our latest write (with its resourceVersion) to the cache."""
    cached[:] = [x for x in cached if x.holder != holder]
    cached.append(leases.ReplicaLease(holder, "uid", holder, T0, 15, str(len(client.created))))


async def test_leases_dead_for_over_an_hour_are_deleted_with_a_uid_precondition():
    clock = FakeClock(T0)
    cached = [
        lease("r-1", T0 - dt.timedelta(minutes=30)),  # dead, but not for an hour yet
        lease("r-2", T0 - dt.timedelta(hours=2)),  # dead for long: cleaned up
        lease("r-0", T0 - dt.timedelta(hours=2)),  # ours: never deleted by the sweep
    ]
    client = RecordingClient()
    m = membership.Membership(identity=ME, client=client, cached_leases=lambda: cached, clock=clock)
    await m._forget_dead()
    assert client.deleted == [("r-2", "uid-r-2")]


async def test_graceful_release_deletes_our_lease():
    client = RecordingClient()
    m = membership.Membership(identity=ME, client=client, cached_leases=tuple, clock=FakeClock(T0))
    await m.release()
    assert client.deleted == [("r-0", None)]
