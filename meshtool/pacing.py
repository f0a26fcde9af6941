"""How long to wait: the token bucket and the exponential backoff, each written once.

`TokenBucket` is golang.org/x/time/rate's reservation model: the bucket holds at most `burst`
tokens, refills at `qps` per second, and every call takes one token. When it is empty the call
still succeeds but borrows, and the answer is how long until the borrowed token has been
refilled, so callers queue up in arrival order at `1/qps` spacing and concurrent callers never
oversubscribe the rate. The kube client uses one to throttle requests (client-go's
`--kube-api-qps/-burst`); the work queue uses one to space retries. `acquire` waits on a `Clock`.

`backoff(attempt, base, cap)` is `base * 2**attempt`, capped: attempt 0 waits `base`. The work
queue's per-key backoff, the informer's reconnects and the trigger loop's failed passes all use
it. Nothing here keeps timers: callers turn a wait into a sleep or a delayed add.
"""

from __future__ import annotations

from collections.abc import Callable

from meshtool.clock import Clock

_MAX_EXPONENT = 128  # 2**128 * any sane base is far past any cap, and still a finite float


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """`base * 2**attempt` seconds, at most `cap`; attempt 0 is the first retry."""
    return min(cap, base * 2.0 ** min(max(attempt, 0), _MAX_EXPONENT))


class TokenBucket:
    def __init__(self, *, qps: float, burst: int, now: Callable[[], float]) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"need qps > 0 and burst >= 1, got qps={qps} burst={burst}")
        self.qps = qps
        self.burst = burst
        self._now = now
        self._tokens = float(burst)
        self._last: float | None = None

    def reserve(self) -> float:
        """Take one token now; returns how many seconds the caller must wait before using it."""
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    async def acquire(self, clock: Clock) -> None:
        delay = self.reserve()
        if delay > 0:
            await clock.sleep(delay)

    def _refill(self) -> None:
        now = self._now()
        if self._last is not None and now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now if self._last is None else max(now, self._last)
