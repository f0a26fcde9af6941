"""The one token bucket and the one backoff: burst first, then qps; doubling up to a cap."""

from __future__ import annotations

import pytest

from meshtool import pacing
from meshtool.clock import FakeClock


class ManualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate() -> None:
    time = ManualTime()
    bucket = pacing.TokenBucket(qps=10, burst=2, now=time)
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0, 0, 0.1, 0.2])
    time.now = 1.0  # refills, but never beyond burst
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0, 0, 0.1])


async def test_acquire_sleeps_on_the_clock_for_the_reservation() -> None:
    clock = FakeClock()
    bucket = pacing.TokenBucket(qps=2, burst=1, now=clock.monotonic)
    start = clock.monotonic()
    await bucket.acquire(clock)
    assert clock.monotonic() == start  # the burst: no wait
    await bucket.acquire(clock)
    assert clock.monotonic() == pytest.approx(start + 0.5)


@pytest.mark.parametrize(("qps", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_bad_settings_are_refused(qps: float, burst: int) -> None:
    with pytest.raises(ValueError, match="qps"):
        pacing.TokenBucket(qps=qps, burst=burst, now=ManualTime())


def test_backoff_doubles_from_base_to_the_cap_and_never_overflows() -> None:
    waits = [pacing.backoff(n, base=1.0, cap=30.0) for n in range(7)]
    assert waits == [1, 2, 4, 8, 16, 30, 30]
    assert pacing.backoff(10**6, base=0.005, cap=1000.0) == 1000.0
    assert pacing.backoff(-3, base=0.5, cap=10.0) == 0.5
