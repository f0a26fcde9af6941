"""The token bucket with a fake clock: burst first, then qps, and reservations queue up."""

from __future__ import annotations

import pytest

from meshtool.kube.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(qps=10, burst=2, monotonic=clock)
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0, 0, 0.1, 0.2])
    clock.now = 1.0  # refills, but never beyond burst
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0, 0, 0.1])


def test_zero_qps_is_unlimited() -> None:
    bucket = TokenBucket(qps=0, burst=1, monotonic=Clock())
    assert {bucket.reserve() for _ in range(1000)} == {0.0}


async def test_acquire_sleeps_for_the_reservation() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    bucket = TokenBucket(qps=2, burst=1, monotonic=Clock(), sleep=sleep)
    await bucket.acquire()
    await bucket.acquire()
    assert slept == [0.5]
