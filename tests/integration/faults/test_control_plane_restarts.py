"""kube-apiserver, then etcd, SIGKILLed mid-burst and restarted on the same ports and data: every
PCR is still Issued exactly once and none Failed, and issuing resumes within seconds."""

from __future__ import annotations

import asyncio
import time

import pytest

from .faultbed import BURST, Bed

OUTAGE_SECONDS = 5.0
pytestmark = pytest.mark.timeout(900)


@pytest.mark.parametrize("process", ["kube-apiserver", "etcd"])
async def test_control_plane_process_killed_and_restarted_mid_burst(bed: Bed, process: str):
    await bed.start_replicas(1)
    case = "apiserver" if process == "kube-apiserver" else "etcd"
    burst = await bed.burst(case)
    await burst.until_issued(BURST // 5)
    bed.plane.kill(process)
    await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself, not a wait for a result
    await bed.plane.restart(process)
    fault_end = time.monotonic()
    row = await burst.finish(
        fault_end,
        fault=f"{process} SIGKILL, down {OUTAGE_SECONDS:.0f}s, restarted",
        audit_complete=process != "kube-apiserver",
    )
    assert row.back < 60, row
