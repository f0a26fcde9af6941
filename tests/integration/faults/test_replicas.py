"""Three replicas, mid-burst: one, then two, SIGKILLed; one frozen (SIGSTOP) past its Lease and
resumed. Every PCR is Issued exactly once; the dead share is taken over within about a Lease;
and the frozen replica, once resumed, writes nothing until it has renewed its Lease, and then
only requests of its own share (judged from the audit log, by its client certificate's group).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from .faultbed import BURST, LEASE_SECONDS, Bed, Burst, replica_group, wall_now

pytestmark = pytest.mark.timeout(900)


def takeover_seconds(burst: Burst, dead: list[str], everyone: list[str], since) -> float:
    """From `since` (wall clock) to the first accepted status write by a survivor (audit log:
    its client certificate's group) of a request in the dead share."""
    survivors = {replica_group(r) for r in everyone if r not in dead}
    times = [
        w.at
        for w in burst.audited()
        if w.code == 200
        and w.at >= since
        and survivors & set(w.groups)
        and burst.share_of(w.name, everyone) in dead
    ]
    assert times, "no survivor wrote a request of the dead share"
    return (min(times) - since).total_seconds()


@pytest.mark.parametrize("kills", [1, 2])
async def test_replicas_sigkilled_mid_burst(bed: Bed, kills: int):
    replicas = await bed.start_replicas(3)
    everyone = bed.names()
    burst = await bed.burst(f"kill{kills}")
    await burst.until_issued(BURST // 5)
    for proc in replicas[:kills]:
        proc.kill()
    killed_at, killed_wall = time.monotonic(), wall_now()
    # A writer killed mid-request may leave its accepted write unaudited: the watch decides.
    row = await burst.finish(
        killed_at, fault=f"{kills} of 3 replicas SIGKILLed", audit_complete=False
    )
    took = takeover_seconds(burst, everyone[:kills], everyone, killed_wall)
    print(f"fault-suite: {kills} killed: the dead share resumed {took:.1f}s after the kill")
    assert took < 2 * LEASE_SECONDS + 15, took
    assert row.all_done < 4 * LEASE_SECONDS + 60, row


async def test_replica_paused_past_its_lease_writes_nothing_it_does_not_own(bed: Bed):
    replicas = await bed.start_replicas(3)
    everyone = bed.names()
    frozen = replicas[0]
    burst = await bed.burst("pause")
    await burst.until_issued(BURST // 5)
    frozen.pause()
    paused_wall = wall_now()
    await asyncio.sleep(LEASE_SECONDS + 10)  # the pause itself: well past the Lease
    resumed_wall = wall_now()
    frozen.resume()
    resumed_at = time.monotonic()
    await burst.finish(resumed_at, fault=f"1 of 3 replicas SIGSTOPped {LEASE_SECONDS + 10}s")
    took = takeover_seconds(burst, [frozen.name], everyone, paused_wall)
    print(f"fault-suite: paused: its share was taken over {took:.1f}s after the pause")
    assert took < 2 * LEASE_SECONDS + 15, took

    group = replica_group(frozen.name)
    renewed = await renewals(burst, group, resumed_wall)
    late = [w for w in burst.audited() if group in w.groups and w.at > resumed_wall]
    # It may write only after renewing its Lease; with no renewal seen, it must not write at all.
    first_renewal = min(renewed) if renewed else None
    before_renewal = [w.name for w in late if first_renewal is None or w.at < first_renewal]
    assert not before_renewal, f"wrote before renewing its Lease: {before_renewal[:5]}"
    foreign = [
        w.name for w in late if w.code == 200 and burst.share_of(w.name, everyone) != frozen.name
    ]
    assert not foreign, f"the resumed replica wrote requests of another share: {foreign[:5]}"
    own = sum(w.code == 200 for w in late)
    print(f"fault-suite: paused: after resuming it wrote {own} requests, all of its own share")


async def renewals(burst: Burst, group: str, since: dt.datetime) -> list[dt.datetime]:
    """When the replica in `group` renewed its Lease after `since`, from the audit log; waits
    (bounded) for the first renewal: the others may have finished the burst during the pause,
    so the burst can be over before the resumed replica's first renewal is due."""
    deadline = time.monotonic() + 2 * LEASE_SECONDS + 10
    while True:
        found = [
            w.at
            for w in burst.audited_all()
            if w.resource == "leases" and group in w.groups and w.code == 200 and w.at > since
        ]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(1)
