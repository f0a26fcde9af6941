"""The rotation state machine driven by an injected clock through a whole rotation."""

from __future__ import annotations

import datetime as dt

from meshtool.clock import FakeClock
from meshtool.pki import capool, lifecycle, rotation
from meshtool.pki.ca import Role

DAY = dt.timedelta(days=1)
POLICY = rotation.Policy(rotate_at=0.5, propagation_delay=dt.timedelta(minutes=10))


def start(clock: FakeClock, days: int = 10) -> capool.CAPool:
    ca = capool.generate_ca(ca_id="1", name="n", clock=clock, validity=days * DAY)
    return capool.CAPool((ca,))


def run(
    pool: capool.CAPool, clock: FakeClock, seen: rotation.Observations, steps: int
) -> tuple[capool.CAPool, list[rotation.Step]]:
    """Apply steps as the controller would, jumping the clock to each Wait's `until`."""
    taken: list[rotation.Step] = []
    for _ in range(steps):
        step = rotation.next_step(pool, clock.now(), seen, POLICY)
        taken.append(step)
        if isinstance(step, rotation.Wait):
            if step.until is None:
                break
            clock.advance(max(1.0, (step.until - clock.now()).total_seconds()))
            continue
        new = None
        if isinstance(step, rotation.Prepare):
            old = pool.get(step.key_type_of)
            new = capool.generate_ca(
                ca_id="2", name="n", clock=clock, validity=old.not_after - old.not_before
            )
        pool = rotation.apply(pool, step, clock.now(), new)
        if isinstance(step, rotation.Remove):
            break
    return pool, taken


def test_nothing_happens_before_half_the_life() -> None:
    clock = FakeClock()
    pool = start(clock)

    step = rotation.next_step(pool, clock.now(), rotation.Observations(frozenset()), POLICY)

    assert isinstance(step, rotation.Wait)
    assert step.until is not None
    assert abs(step.until - (clock.now() + 5 * DAY)) < dt.timedelta(minutes=5)


def test_a_whole_rotation_in_order_once() -> None:
    clock = FakeClock()
    pool = start(clock)
    everyone = rotation.Observations(frozenset({"1", "2"}), {"a": frozenset({"1", "2"})})

    pool, steps = run(pool, clock, everyone, steps=12)

    actions = [type(s).__name__ for s in steps if not isinstance(s, rotation.Wait)]
    assert actions == ["Prepare", "MarkPublished", "Activate", "Remove"]
    assert [(ca.id, pool.role(ca)) for ca in pool.cas] == [("2", Role.ACTIVE)]
    state = pool.cas[0].state
    assert state is not None and state.prepared_at and state.published_at and state.activated_at
    assert state.activated_at - state.published_at >= POLICY.propagation_delay


def test_not_activated_until_the_bundles_carry_it_and_every_replica_loaded_it() -> None:
    clock = FakeClock()
    pool = start(clock)
    clock.advance(6 * DAY.total_seconds())
    nobody = rotation.Observations(frozenset({"1"}), {"a": frozenset({"1"})})
    pool, _ = run(pool, clock, nobody, steps=1)  # Prepare
    assert rotation.successor(pool) is not None

    step = rotation.next_step(pool, clock.now() + DAY, nobody, POLICY)
    assert isinstance(step, rotation.Wait) and "trust bundles" in step.reason
    assert rotation.stuck(step, clock.now() + DAY, POLICY)

    published = rotation.Observations(
        frozenset({"1", "2"}), {"a": frozenset({"1", "2"}), "b": frozenset({"1"})}
    )
    pool = rotation.apply(
        pool, rotation.next_step(pool, clock.now(), published, POLICY), clock.now()
    )
    later = clock.now() + DAY
    step = rotation.next_step(pool, later, published, POLICY)
    assert (
        isinstance(step, rotation.Wait) and "replicas to load" in step.reason and "b" in step.reason
    )

    loaded = rotation.Observations(
        frozenset({"1", "2"}), {"a": frozenset({"1", "2"}), "b": frozenset({"2"})}
    )
    early = clock.now() + dt.timedelta(minutes=9)
    assert isinstance(rotation.next_step(pool, early, loaded, POLICY), rotation.Wait)
    assert rotation.next_step(pool, later, loaded, POLICY) == rotation.Activate("2")


def test_a_prepared_ca_from_an_operator_is_activated_by_the_machine() -> None:
    """`meshtool ca rotate` prepares; the controller activates when safe, before the due time."""
    clock = FakeClock()
    pool = start(clock)
    new = capool.generate_ca(ca_id="2", name="n", clock=clock, validity=20 * DAY)
    pool = lifecycle.prepare(pool, new, clock.now())
    everyone = rotation.Observations(frozenset({"1", "2"}), {"a": frozenset({"1", "2"})})

    pool, _ = run(pool, clock, everyone, steps=3)

    assert pool.cas[0].id == "2"
    assert clock.now() < rotation.prepare_due(pool.cas[1], POLICY)


def test_an_older_legacy_ca_is_neither_activated_nor_removed() -> None:
    clock = FakeClock()
    old = capool.generate_ca(ca_id="0", name="n", clock=clock, validity=2 * DAY)
    pool = capool.CAPool((*start(clock).cas, old))
    seen = rotation.Observations(frozenset({"0", "1"}), {"a": frozenset({"0", "1"})})

    step = rotation.next_step(pool, clock.now() + 3 * DAY, seen, POLICY)

    assert isinstance(step, rotation.Wait)


def test_an_intermediate_is_not_succeeded_automatically_and_that_becomes_stuck() -> None:
    clock = FakeClock()
    root = capool.generate_ca(ca_id="root", name="n", clock=clock, validity=100 * DAY)
    ca = capool.generate_ca(ca_id="1", name="n", clock=clock, validity=10 * DAY, parent=root)
    pool = capool.CAPool((ca,))
    seen = rotation.Observations(frozenset({"1"}), {"a": frozenset({"1"})})

    later = clock.now() + 6 * DAY
    step = rotation.next_step(pool, later, seen, POLICY)

    assert isinstance(step, rotation.Wait) and "--parent-pool" in step.reason
    assert rotation.stuck(step, later, POLICY)
