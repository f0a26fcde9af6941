from __future__ import annotations

import datetime as dt
import json

import pytest

from meshtool.clock import FakeClock
from meshtool.pki import capool, lifecycle
from meshtool.pki.ca import Role

from .test_capool import GO_COMPACT, GO_INDENTED

HOUR = dt.timedelta(hours=1)


def new_ca(clock: FakeClock, ca_id: str, days: int = 30) -> capool.CA:
    return capool.generate_ca(ca_id=ca_id, name="n", clock=clock, validity=dt.timedelta(days=days))


def roles(pool: capool.CAPool) -> list[tuple[str, Role]]:
    return [(ca.id, pool.role(ca)) for ca in pool.cas]


def test_a_stateless_pool_infers_roles_and_round_trips_byte_identically(clock: FakeClock) -> None:
    pool = capool.load(GO_INDENTED, clock=clock)

    assert roles(pool) == [("1", Role.ACTIVE), ("2", Role.PREPARED)]
    assert capool.dump(pool) == GO_COMPACT


def test_the_full_manual_cycle_keeps_the_active_ca_first_and_records_times(
    clock: FakeClock,
) -> None:
    pool = capool.CAPool((new_ca(clock, "1"),))
    t0 = clock.now()

    pool = lifecycle.prepare(pool, new_ca(clock, "2"), t0)
    assert roles(pool) == [("1", Role.ACTIVE), ("2", Role.PREPARED)]
    pool = lifecycle.activate(pool, "2", t0 + HOUR)
    assert roles(pool) == [("2", Role.ACTIVE), ("1", Role.RETIRED)]
    with pytest.raises(lifecycle.LifecycleError, match="may be valid until"):
        lifecycle.remove(pool, "1", t0 + 2 * HOUR)
    pool = lifecycle.remove(pool, "1", t0 + HOUR + lifecycle.MAX_LEAF_LIFETIME)

    assert roles(pool) == [("2", Role.ACTIVE)]
    state = pool.cas[0].state
    assert state is not None
    assert state.prepared_at == t0.replace(microsecond=0)
    assert state.activated_at == (t0 + HOUR).replace(microsecond=0)


def test_state_survives_the_json_and_go_still_signs_with_the_first_ca(clock: FakeClock) -> None:
    pool = lifecycle.prepare(capool.CAPool((new_ca(clock, "1"),)), new_ca(clock, "2"), clock.now())
    pool = lifecycle.activate(pool, "2", clock.now())

    dumped = capool.dump(pool)
    again = capool.load(dumped, clock=clock)

    assert capool.dump(again) == dumped
    assert [ca.state for ca in again.cas] == [ca.state for ca in pool.cas]
    wire = json.loads(dumped)["CAs"]
    assert wire[0]["ID"] == "2" and wire[0]["Role"] == "active"
    assert wire[1]["Role"] == "retired" and wire[1]["RetiredAt"].endswith("Z")


def test_refusals(clock: FakeClock) -> None:
    pool = lifecycle.prepare(capool.CAPool((new_ca(clock, "1"),)), new_ca(clock, "2"), clock.now())
    now = clock.now()

    with pytest.raises(lifecycle.LifecycleError, match="active CA; activate its successor"):
        lifecycle.retire(pool, "1", now)
    with pytest.raises(lifecycle.LifecycleError, match="cannot be removed"):
        lifecycle.remove(pool, "1", now, force=True)
    retired = lifecycle.retire(pool, "2", now)
    with pytest.raises(lifecycle.LifecycleError, match="only a prepared CA"):
        lifecycle.activate(retired, "2", now)
    # Never active, so it signed nothing: removable at once.
    assert roles(lifecycle.remove(retired, "2", now)) == [("1", Role.ACTIVE)]


def test_transitions_re_apply_idempotently(clock: FakeClock) -> None:
    now = clock.now()
    ca2 = new_ca(clock, "2")
    pool = lifecycle.prepare(capool.CAPool((new_ca(clock, "1"),)), ca2, now)

    assert lifecycle.prepare(pool, ca2, now) == pool
    active = lifecycle.activate(pool, "2", now)
    assert lifecycle.activate(active, "2", now) == active
    assert lifecycle.remove(active, "9", now) == active


def test_a_legacy_ca_of_unknown_history_is_removable_only_after_it_expired(
    clock: FakeClock,
) -> None:
    pool = capool.CAPool((new_ca(clock, "1"), new_ca(clock, "2", days=2)))

    with pytest.raises(lifecycle.LifecycleError):
        lifecycle.remove(pool, "2", clock.now())
    assert lifecycle.remove(pool, "2", clock.now(), force=True).cas[0].id == "1"
    later = clock.now() + dt.timedelta(days=3)
    assert [ca.id for ca in lifecycle.remove(pool, "2", later).cas] == ["1"]


def test_a_recorded_active_ca_must_be_first(clock: FakeClock) -> None:
    pool = lifecycle.activate(
        lifecycle.prepare(capool.CAPool((new_ca(clock, "1"),)), new_ca(clock, "2"), clock.now()),
        "2",
        clock.now(),
    )
    wire = json.loads(capool.dump(pool))
    wire["CAs"].reverse()

    with pytest.raises(capool.CAPoolError, match="active CA must be first"):
        capool.load(json.dumps(wire), clock=clock)


def test_an_intermediate_ca_chains_to_the_offline_root(clock: FakeClock) -> None:
    root = new_ca(clock, "root", days=365)

    ca = capool.generate_ca(ca_id="i1", name="n", clock=clock, parent=root)
    pool = capool.load(capool.dump(capool.CAPool((ca,))), clock=clock)

    assert pool.trust_anchors() == (root.root,)
    assert pool.cas[0].intermediates[0].issuer == root.root.subject
    assert "SigningKeyPKCS8" in capool.dump(pool).decode()
    assert pool.cas[0].signing_key.public_key() != root.signing_key.public_key()


def test_next_id() -> None:
    clock = FakeClock()
    assert lifecycle.next_id(capool.CAPool((new_ca(clock, "1"), new_ca(clock, "3")))) == "4"
    assert lifecycle.next_id(capool.CAPool((new_ca(clock, "a"),))) == "2"


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("Role", "signing", "Role: expected one of active, prepared, retired"),
        ("ActivatedAt", "yesterday", "ActivatedAt: expected an RFC 3339 UTC time"),
        ("ActivatedAt", "2026-01-01T00:00:00+01:00", "ActivatedAt: expected an RFC 3339 UTC"),
        ("ActivatedAt", 5, "ActivatedAt: expected an RFC 3339 UTC"),
    ],
)
def test_bad_state_fields_are_refused_naming_the_ca_and_field(
    clock: FakeClock, field: str, value: object, message: str
) -> None:
    wire = json.loads(capool.dump(capool.CAPool((new_ca(clock, "1"),))))
    wire["CAs"][0]["Role"] = "active"
    wire["CAs"][0][field] = value

    with pytest.raises(capool.CAPoolError, match=f'CA "1": {message}'):
        capool.load(json.dumps(wire), clock=clock)
