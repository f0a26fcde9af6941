"""Client-side request throttling: a token bucket like client-go's `--kube-api-qps/-burst`.

The bucket holds at most `burst` tokens and refills at `qps` tokens per second. Every request
takes one token; when the bucket is empty the caller waits its turn. Waiters reserve a token
up front (the balance may go negative), so they are served in arrival order and concurrent
callers never oversubscribe the rate; this is the reservation model of Go's `x/time/rate`.

`qps <= 0` disables throttling (benchmarks raise qps instead of patching the client).
It does not retry, queue by priority, or know about HTTP: it only decides how long to wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    def __init__(
        self,
        qps: float,
        burst: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.qps = qps
        self.burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = monotonic()

    def reserve(self) -> float:
        """Take one token now; returns how many seconds the caller must wait before using it."""
        if self.qps <= 0:
            return 0.0
        now = self._monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.qps)
        self._stamp = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await self._sleep(delay)
