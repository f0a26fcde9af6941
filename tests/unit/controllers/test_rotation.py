"""The rotation shell with an injected clock: one owner writes each step once through the
store, re-deciding on a conflict; metrics and warnings come from the loaded pool."""

from __future__ import annotations

import datetime as dt

from meshtool.clock import FakeClock
from meshtool.controllers import poolstore, rotation
from meshtool.controllers.metrics import Metrics
from meshtool.pki import capool
from meshtool.pki import rotation as plan

DAY = dt.timedelta(days=1)


class MemoryStore:
    namespace, name, where = "ns", "pool", "memory"

    def __init__(self, pool: capool.CAPool) -> None:
        self.data, self.version, self.writes, self.conflicts = capool.dump(pool), 1, 0, 0
        self.clock = FakeClock()

    async def read(self) -> poolstore.Read:
        pool = capool.load(self.data, clock=self.clock, allow_expired=True)
        return poolstore.Read(pool, str(self.version), self.data)

    async def write(self, pool: capool.CAPool, version: str) -> None:
        if self.conflicts:
            self.conflicts -= 1
            self.version += 1
            raise poolstore.Stale(self.where)
        assert version == str(self.version)
        self.data, self.version, self.writes = capool.dump(pool), self.version + 1, self.writes + 1


def make(clock: FakeClock, store: MemoryStore, owns: bool = True):
    metrics, warnings = Metrics(), []

    def observe(pool: capool.CAPool) -> plan.Observations:
        ids = frozenset(ca.id for ca in pool.cas)
        return plan.Observations(published=ids, loaded={"me": ids})

    async def warn(reason: str, message: str) -> None:
        warnings.append(reason)

    rotator = rotation.Rotator(
        signer_name="s", store=store, loaded=lambda: capool.load(store.data, clock=clock),
        observe=observe, owns=lambda key: owns, policy=plan.Policy(), clock=clock,
        metrics=metrics, warn=warn,
    )  # fmt: skip
    return rotator, metrics, warnings


def ca_pool(clock: FakeClock, days: int = 10) -> capool.CAPool:
    return capool.CAPool(
        (capool.generate_ca(ca_id="1", name="s", clock=clock, validity=days * DAY),)
    )


async def test_the_owner_rotates_once_per_step_through_the_store() -> None:
    clock = FakeClock()
    store = MemoryStore(ca_pool(clock))
    rotator, metrics, _ = make(clock, store)

    assert isinstance(await rotator.tick(), plan.Wait)
    assert metrics.ca_next_step.labels("s")._value.get() > 4 * 86400
    clock.advance(5 * 86400 + 600)
    taken = []
    for _ in range(12):
        step = await rotator.tick()
        taken.append(type(step).__name__)
        if isinstance(step, plan.Remove):
            break
        if isinstance(step, plan.Wait) and step.until:
            clock.advance((step.until - clock.now()).total_seconds() + 1)

    assert [t for t in taken if t != "Wait"] == ["Prepare", "MarkPublished", "Activate", "Remove"]
    assert store.writes == 4
    pool = capool.load(store.data, clock=clock)
    assert [ca.id for ca in pool.cas] == ["2"]
    assert metrics.ca_role.labels("s", "2", "active")._value.get() == 1


async def test_a_conflict_is_re_decided_and_applied_once() -> None:
    clock = FakeClock()
    store = MemoryStore(ca_pool(clock))
    rotator, _, _ = make(clock, store)
    clock.advance(6 * 86400)
    store.conflicts = 2

    assert isinstance(await rotator.tick(), plan.Prepare)

    assert store.writes == 1
    assert [ca.id for ca in capool.load(store.data, clock=clock).cas] == ["1", "2"]


async def test_not_the_owner_writes_nothing_and_expiry_warns() -> None:
    clock = FakeClock()
    store = MemoryStore(ca_pool(clock, days=40))
    rotator, metrics, _ = make(clock, store, owns=False)
    clock.advance(21 * 86400)

    assert await rotator.tick() is None
    assert store.writes == 0
    assert metrics.ca_warning.labels("s", "CAExpiringWithoutSuccessor")._value.get() == 1

    owner, _, warned = make(clock, store, owns=True)
    clock.advance(1)
    await owner._post_warnings(capool.load(store.data, clock=clock), clock.now())
    await owner._post_warnings(capool.load(store.data, clock=clock), clock.now())
    assert warned == ["CAExpiringWithoutSuccessor"]  # once per hour, not per tick
