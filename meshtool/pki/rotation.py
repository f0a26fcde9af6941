"""Automatic CA rotation as a pure state machine: (pool, now, observations) -> the next step.

The steps, in the order they can happen for one rotation:

1. `Prepare`: the active CA has used `rotate_at` of its life and there is no successor (a
   prepared CA that outlives the active one): make one of the same key type and lifetime.
2. `MarkPublished`: the successor's root is in the published trust bundles; record when.
3. `Activate`: the successor has been published for `propagation_delay` (the kubelet caches
   bundles for 5 minutes, plus jitter) and every live replica has loaded it; activating also
   retires the previous active CA.
4. `Remove`: a retired CA whose leaves have all expired (`lifecycle.leaves_valid_until`).

Otherwise the answer is `Wait(until, reason)`: `until` is when time alone changes the answer
(None: only an observation can). A successor is never activated before the published bundles
carry it, so no leaf is signed by a CA a verifier does not trust yet. CAs without a recorded
history (pools from the Go tool) are never removed automatically. An intermediate CA is never
succeeded automatically (its root's key is offline): the machine waits for an operator's
`meshtool ca rotate --parent-pool`, and that wait turns into a stuck warning. `stuck` says whether a
rotation has waited long past when it should have finished. No I/O, no clock reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from meshtool.pki import lifecycle
from meshtool.pki.ca import CA, CAPool, Role


@dataclass(frozen=True, slots=True)
class Policy:
    rotate_at: float = 0.5
    """Fraction of the active CA's lifetime after which a successor is prepared."""
    propagation_delay: dt.timedelta = dt.timedelta(minutes=10)
    removal_delay: dt.timedelta = lifecycle.MAX_LEAF_LIFETIME
    """How long after retirement a CA may still have valid leaves (24 h cap + backdate)."""
    stuck_after: dt.timedelta = dt.timedelta(hours=1)
    """How long past its due time a step may wait before rotation counts as stuck."""


@dataclass(frozen=True, slots=True)
class Observations:
    published: frozenset[str]
    """Ids of the pool's CAs whose roots the published trust bundles carry."""
    loaded: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Live replica -> the CA ids of the pool it has loaded."""


@dataclass(frozen=True, slots=True)
class Prepare:
    key_type_of: str
    """The id of the CA whose key type and lifetime the successor copies."""


@dataclass(frozen=True, slots=True)
class MarkPublished:
    ca_id: str


@dataclass(frozen=True, slots=True)
class Activate:
    ca_id: str


@dataclass(frozen=True, slots=True)
class Remove:
    ca_id: str


@dataclass(frozen=True, slots=True)
class Wait:
    until: dt.datetime | None
    reason: str
    due: dt.datetime | None = None
    """When the waited-for step was due; the basis of `stuck`."""


Step = Prepare | MarkPublished | Activate | Remove | Wait


def prepare_due(ca: CA, policy: Policy) -> dt.datetime:
    return ca.not_before + (ca.not_after - ca.not_before) * policy.rotate_at


def successor(pool: CAPool) -> CA | None:
    """The prepared CA that outlives the active one the longest, if any."""
    active = pool.cas[0]
    later = [
        c for c in pool.cas if pool.role(c) is Role.PREPARED and c.not_after > active.not_after
    ]
    return max(later, key=lambda c: c.not_after, default=None)


def next_step(pool: CAPool, now: dt.datetime, seen: Observations, policy: Policy) -> Step:
    removable = _removable(pool, now, policy)
    if removable is not None:
        return Remove(removable.id)
    nxt = successor(pool)
    if nxt is None:
        return _prepare_or_wait(pool, now, policy)
    return _promote(nxt, now, seen, policy)


def _removable(pool: CAPool, now: dt.datetime, policy: Policy) -> CA | None:
    for ca in pool.cas[1:]:
        until = _removal_time(pool, ca, policy)
        if until is not None and until <= now:
            return ca
    return None


def _prepare_or_wait(pool: CAPool, now: dt.datetime, policy: Policy) -> Step:
    due = prepare_due(pool.cas[0], policy)
    if now >= due and pool.cas[0].intermediates:
        # Its root's key is kept offline: only an operator can sign a successor.
        why = "an operator to prepare a successor (meshtool ca rotate --parent-pool ROOT)"
        return Wait(None, why, due=due)
    if now >= due:
        return Prepare(key_type_of=pool.cas[0].id)
    retired = [_removal_time(pool, ca, policy) for ca in pool.cas[1:]]
    until = min([due, *(t for t in retired if t is not None)])
    return Wait(until, f"the active CA reaches {policy.rotate_at:.0%} of its life", due=due)


def _removal_time(pool: CAPool, ca: CA, policy: Policy) -> dt.datetime | None:
    if ca.state is None or ca.state.role is not Role.RETIRED or ca.state.retired_at is None:
        return None
    return lifecycle.leaves_valid_until(pool, ca, policy.removal_delay)


def _promote(nxt: CA, now: dt.datetime, seen: Observations, policy: Policy) -> Step:
    state = nxt.state
    published_at = state.published_at if state else None
    since = (state.prepared_at if state else None) or published_at
    if published_at is None:
        if nxt.id in seen.published:
            return MarkPublished(nxt.id)
        return Wait(None, f'the trust bundles to carry CA "{nxt.id}"', due=since)
    missing = sorted(r for r, ids in seen.loaded.items() if nxt.id not in ids)
    ready_at = published_at + policy.propagation_delay
    if missing:
        return Wait(None, f'replicas to load CA "{nxt.id}": {", ".join(missing)}', due=ready_at)
    if now < ready_at:
        return Wait(ready_at, f'CA "{nxt.id}" to be published for {policy.propagation_delay}')
    return Activate(nxt.id)


def stuck(step: Step, now: dt.datetime, policy: Policy) -> bool:
    return isinstance(step, Wait) and step.due is not None and now - step.due > policy.stuck_after


def apply(pool: CAPool, step: Step, now: dt.datetime, new_ca: CA | None = None) -> CAPool:
    """The pool after `step` (`new_ca` is the successor a `Prepare` adds)."""
    if isinstance(step, Prepare):
        assert new_ca is not None, "Prepare needs the new CA"
        return lifecycle.prepare(pool, new_ca, now)
    if isinstance(step, MarkPublished):
        return lifecycle.mark_published(pool, step.ca_id, now)
    if isinstance(step, Activate):
        return lifecycle.activate(pool, step.ca_id, now)
    if isinstance(step, Remove):
        # The machine decided by its own removal delay; lifecycle's default bound is 24 h.
        return lifecycle.remove(pool, step.ca_id, now, force=True)
    return pool
