"""CA lifecycle transitions: pure functions from a pool and a time to the next pool.

A CA moves prepared -> active -> retired -> removed. `prepare` appends a new CA as prepared;
`activate` moves a prepared CA first and retires the CA that was active; `retire` takes a
prepared CA out of line (the active CA is retired only by activating another); `remove` drops a
CA once no leaf it signed can still be valid. Every transition first records the inferred
roles of a stateless pool (`materialize`), so that after one transition every CA's role is
written down.

Invariants: exactly one active CA, always first (the Go tool signs with `cas[0]`); no transition
drops a CA other than the one `remove` names; each is idempotent where that makes sense
(activating the active CA, retiring a retired one, marking a published CA published again
return the pool unchanged), so a writer that lost a race re-applies it to the fresh pool safely.
Refusals raise `LifecycleError` with one sentence for the operator. `make_successor`
generates a CA (reading the injected clock); everything else is pure. No I/O.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from cryptography import x509

from meshtool.clock import Clock
from meshtool.pki import constraints as name_constraints
from meshtool.pki.ca import (
    CA,
    CAPool,
    CAPoolError,
    CAState,
    Role,
    generate_ca,
    key_type_of,
    label,
    name_of,
)

MAX_LEAF_LIFETIME = dt.timedelta(hours=24, minutes=5)
"""The longest leaf a CA can have signed that is still valid after it stopped signing: the
24 h lifetime cap plus the 5-minute backdate bound."""


class LifecycleError(CAPoolError):
    pass


def _whole(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(microsecond=0)


def materialize(pool: CAPool) -> CAPool:
    """The same pool with every inferred role recorded (times unknown stay None)."""
    return CAPool(
        tuple(ca if ca.state else _with(ca, CAState(role=pool.role(ca))) for ca in pool.cas)
    )


def _with(ca: CA, state: CAState) -> CA:
    return dataclasses.replace(ca, state=state)


def _state(pool: CAPool, ca: CA) -> CAState:
    return ca.state or CAState(role=pool.role(ca))


def prepare(pool: CAPool, ca: CA, now: dt.datetime) -> CAPool:
    """Append `ca` as prepared; a CA of that id already there (a re-apply) is left as it is."""
    if any(existing.id == ca.id for existing in pool.cas):
        return pool
    new = _with(ca, CAState(role=Role.PREPARED, prepared_at=_whole(now)))
    return CAPool((*materialize(pool).cas, new))


def mark_published(pool: CAPool, ca_id: str, now: dt.datetime) -> CAPool:
    ca = pool.get(ca_id)
    state = _state(pool, ca)
    if state.published_at is not None:
        return pool
    return _replace(
        materialize(pool), _with(ca, dataclasses.replace(state, published_at=_whole(now)))
    )


def activate(pool: CAPool, ca_id: str, now: dt.datetime) -> CAPool:
    """Make the prepared CA `ca_id` the signing one and retire the CA that was active."""
    target = pool.get(ca_id)
    role = pool.role(target)
    if role is Role.ACTIVE:
        return pool
    if role is not Role.PREPARED:
        raise LifecycleError(f"{label(ca_id)} is {role}; only a prepared CA can be activated")
    if target.not_after <= now:
        raise LifecycleError(f"{label(ca_id)} has expired; it cannot sign")
    at = _whole(now)
    pool = materialize(pool)
    old = pool.cas[0]
    retired = _with(old, dataclasses.replace(_state(pool, old), role=Role.RETIRED, retired_at=at))
    active_state = dataclasses.replace(_state(pool, target), role=Role.ACTIVE, activated_at=at)
    rest = tuple(retired if ca.id == old.id else ca for ca in pool.cas if ca.id != ca_id)
    return CAPool((_with(target, active_state), *rest))


def retire(pool: CAPool, ca_id: str, now: dt.datetime) -> CAPool:
    """Retire a prepared CA (it stays trusted until removed)."""
    target = pool.get(ca_id)
    role = pool.role(target)
    if role is Role.RETIRED:
        return pool
    if role is Role.ACTIVE:
        raise LifecycleError(
            f"{label(ca_id)} is the active CA; activate its successor instead (that retires it)"
        )
    state = dataclasses.replace(_state(pool, target), role=Role.RETIRED, retired_at=_whole(now))
    return _replace(materialize(pool), _with(target, state))


def leaves_valid_until(
    pool: CAPool, ca: CA, max_leaf: dt.timedelta = MAX_LEAF_LIFETIME
) -> dt.datetime | None:
    """Until when a leaf `ca` signed may still be valid; None: it may sign now (active) or it
    is not known when it stopped. A CA that never signed gives its preparation time."""
    state = _state(pool, ca)
    if state.role is Role.ACTIVE:
        return None
    if state.activated_at is None and state.prepared_at is not None:
        return state.prepared_at  # prepared, perhaps retired, never active: signed nothing
    if state.role is Role.RETIRED and state.retired_at is not None:
        return min(state.retired_at + max_leaf, ca.not_after)
    return ca.not_after  # unknown history: issuance never outlives the CA


def remove(pool: CAPool, ca_id: str, now: dt.datetime, *, force: bool = False) -> CAPool:
    """Drop `ca_id`; refused for the active CA, and while leaves it signed may be valid."""
    target = next((ca for ca in pool.cas if ca.id == ca_id), None)
    if target is None:
        return pool  # already removed (a re-apply)
    if pool.role(target) is Role.ACTIVE:
        raise LifecycleError(f"{label(ca_id)} is the active CA; it cannot be removed")
    until = leaves_valid_until(pool, target)
    if not force and until is not None and until > now:
        raise LifecycleError(
            f"{label(ca_id)}: leaves it signed may be valid until {until.isoformat()}; "
            "removing it now breaks them (use --force to remove anyway)"
        )
    pool = materialize(pool)
    return CAPool(tuple(ca for ca in pool.cas if ca.id != ca_id))


def _replace(pool: CAPool, new: CA) -> CAPool:
    return CAPool(tuple(new if ca.id == new.id else ca for ca in pool.cas))


def next_id(pool: CAPool) -> str:
    """One more than the largest numeric id (or the count plus one), not yet used."""
    numbers = [int(ca.id) for ca in pool.cas if ca.id.isdigit()]
    candidate = max(numbers, default=len(pool.cas)) + 1
    used = {ca.id for ca in pool.cas}
    while str(candidate) in used:
        candidate += 1
    return str(candidate)


def make_successor(
    pool: CAPool,
    *,
    clock: Clock,
    ca_id: str | None = None,
    key_type: str | None = None,
    validity: dt.timedelta | None = None,
    parent: CA | None = None,
    constraints: x509.NameConstraints | None = None,
) -> CA:
    """A new CA like the active one (name, key type, lifetime, name constraints) unless told
    otherwise; with `parent`, an intermediate of that (offline) CA."""
    active = pool.cas[0]
    return generate_ca(
        ca_id=ca_id or next_id(pool),
        name=name_of(active),
        key_type=key_type or key_type_of(active.signing_key),
        clock=clock,
        validity=validity or (active.not_after - active.not_before),
        parent=parent,
        constraints=constraints or name_constraints.of(active.issuer_cert),
    )
