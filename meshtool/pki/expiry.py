"""Expiry you can see coming: the warnings a pool deserves, as sentences, from pure inputs.

A pool warrants a warning when its active CA has expired, or expires within `horizon` (30
days) with no successor prepared although rotation was due (so a CA shorter-lived than 60 days
does not warn from its first day), when rotation is stuck (`rotation.stuck`), or when a prepared
CA's root is not in the published bundles. `meshtool ca status`, the controller's Warning Events
and its metrics all use these same rules. No I/O, no clock reads.
"""

from __future__ import annotations

import datetime as dt

from meshtool.pki import rotation
from meshtool.pki.ca import CAPool, Role

HORIZON = dt.timedelta(days=30)
EXPIRED = "CAExpired"
EXPIRING = "CAExpiringWithoutSuccessor"
STUCK = "CARotationStuck"
UNPUBLISHED = "CANotPublished"
_POLICY = rotation.Policy()


def warnings(
    pool: CAPool,
    now: dt.datetime,
    *,
    published: frozenset[str] | None,
    policy: rotation.Policy = _POLICY,
    horizon: dt.timedelta = HORIZON,
) -> list[tuple[str, str]]:
    """(reason, message) pairs; `published` None means the bundles were not looked at."""
    active = pool.cas[0]
    found: list[tuple[str, str]] = []
    if active.not_after <= now:
        found.append((EXPIRED, f'the active CA "{active.id}" expired at {active.not_after:%F %T}Z'))
    elif (
        active.not_after - now < horizon
        and now >= rotation.prepare_due(active, policy)
        and rotation.successor(pool) is None
    ):
        days = (active.not_after - now) / dt.timedelta(days=1)
        found.append(
            (EXPIRING, f'the active CA "{active.id}" expires in {days:.1f} days with no successor')
        )
    seen = rotation.Observations(published or frozenset(), {})
    step = rotation.next_step(pool, now, seen, policy)
    if isinstance(step, rotation.Wait) and rotation.stuck(step, now, policy):
        found.append((STUCK, f"rotation is stuck waiting for {step.reason}"))
    if published is not None:
        for ca in pool.cas:
            if pool.role(ca) is not Role.RETIRED and ca.id not in published:
                found.append((UNPUBLISHED, f'CA "{ca.id}" is not in the published trust bundles'))
    return found
