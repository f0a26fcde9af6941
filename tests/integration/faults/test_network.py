"""The network between the controller and the apiserver made slow, lossy, bandwidth-limited,
reset and black-holed mid-burst, through a real TCP fault proxy (toxiproxy) on loopback. Every
PCR is Issued exactly once, none Failed; during the black hole /readyz says the apiserver is
unreachable, and it turns ready again once the path heals."""

from __future__ import annotations

import asyncio
import time

import pytest

from meshtool.testing.faultproxy import NETWORK_FAULTS

from .faultbed import BURST, Bed, until

pytestmark = pytest.mark.timeout(900)
FAULT_SECONDS = 15.0


@pytest.mark.parametrize("fault", [f for f in NETWORK_FAULTS if f != "blackhole"])
async def test_network_fault_mid_burst(bed: Bed, fault: str):
    await bed.start_replicas(1, proxied=True)
    burst = await bed.burst(f"net-{fault}")
    await burst.until_issued(BURST // 5)
    with bed.proxy.fault(fault):
        await asyncio.sleep(FAULT_SECONDS)  # the fault's duration, not a wait for a result
    row = await burst.finish(time.monotonic(), fault=f"network {fault}, {FAULT_SECONDS:.0f}s")
    assert row.back < 60, row


async def test_black_hole_turns_readyz_red_and_back(bed: Bed):
    (replica,) = await bed.start_replicas(1, proxied=True)
    burst = await bed.burst("net-blackhole")
    await burst.until_issued(BURST // 5)
    with bed.proxy.fault("blackhole"):
        started = time.monotonic()

        def red() -> bool:
            code, body = replica.get("/readyz")
            return code == 503 and "kube-apiserver is not reachable" in body

        await until(red, 60, "/readyz to report the unreachable apiserver", blocking=True)
        noticed = time.monotonic() - started
    healed = time.monotonic()
    await until(lambda: replica.get("/readyz")[0] == 200, 60, "/readyz green", blocking=True)
    recovered = time.monotonic() - healed
    row = await burst.finish(healed, fault=f"network black hole, {noticed:.0f}s")
    print(
        f"fault-suite: black hole: /readyz red after {noticed:.1f}s, green {recovered:.1f}s after"
    )
    assert noticed < 30 and recovered < 30, (noticed, recovered)
    assert row.back < 60, row
