"""How long a failed key waits before its next attempt.

This is client-go's default controller rate limiter, ported. Two limiters are combined and the
longer wait wins:

* `ItemBackoff`, per key: the n-th consecutive failure of a key waits `base * 2**n` seconds
  (5 ms, 10 ms, 20 ms, … up to a 1000 s cap). `forget(key)` resets the count once the key succeeds,
  so one flapping object never slows down the others.
* `TokenBucket`, global (`meshtool.pacing.TokenBucket` as a limiter): a burst of 1000 retries
  goes straight through, after that retries are spaced at 100 per second, whatever their key.
  It protects the API server from a retry storm when many keys fail at once. client-go's
  default is 100 then 10/s; we allow ten times that because a signer's keys fail together (an
  apiserver restart fails every pending request at once): at 10/s, 2,000 pending requests took
  up to 150 s to retry after the fault suite's outages. The kube client's own rate limit
  (`--kube-api-qps`) still bounds what reaches the apiserver.

`when(key)` both answers and records: each call counts as one more failure and takes one token.
Limiters do no sleeping and hold no timers; the work queue turns the answer into a delayed add.
Time is injected (a `Clock` or any monotonic `() -> float`); the work queue passes its loop's
clock so fake loop time in tests drives the bucket too.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from meshtool import pacing
from meshtool.clock import Clock

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)

DEFAULT_BASE_DELAY = 0.005
DEFAULT_MAX_DELAY = 1000.0
DEFAULT_QPS = 100.0
DEFAULT_BURST = 1000


class RateLimiter(Protocol[K_contra]):
    """What the work queue needs: a wait per failure, a reset, and a failure count."""

    def when(self, key: K_contra) -> float: ...

    def forget(self, key: K_contra) -> None: ...

    def retries(self, key: K_contra) -> int: ...


class ItemBackoff(Generic[K]):
    """Per-key exponential backoff: `base * 2**failures`, capped at `cap` seconds."""

    def __init__(self, *, base: float = DEFAULT_BASE_DELAY, cap: float = DEFAULT_MAX_DELAY) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"need 0 < base <= cap, got base={base} cap={cap}")
        self._base = base
        self._cap = cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        return pacing.backoff(failures, base=self._base, cap=self._cap)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def retries(self, key: K) -> int:
        return self._failures.get(key, 0)


class TokenBucket(pacing.TokenBucket):
    """The global retry bucket: `meshtool.pacing.TokenBucket` as a `RateLimiter`.

    Every call takes one token whatever its key, so there is nothing per key to forget.
    """

    def __init__(
        self,
        *,
        time: Clock | Callable[[], float],
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
    ) -> None:
        super().__init__(qps=qps, burst=burst, now=time if callable(time) else time.monotonic)

    def when(self, key: object = None) -> float:
        return self.reserve()

    def forget(self, key: object = None) -> None:
        """The bucket is not per key, so there is nothing to reset."""

    def retries(self, key: object = None) -> int:
        return 0


class MaxOf(Generic[K]):
    """Ask every limiter (each records the failure) and wait for the longest answer."""

    def __init__(self, *limiters: RateLimiter[K]) -> None:
        if not limiters:
            raise ValueError("MaxOf needs at least one limiter")
        self._limiters = limiters

    def when(self, key: K) -> float:
        return max(limiter.when(key) for limiter in self._limiters)

    def forget(self, key: K) -> None:
        for limiter in self._limiters:
            limiter.forget(key)

    def retries(self, key: K) -> int:
        return max(limiter.retries(key) for limiter in self._limiters)


def default_limiter(
    *,
    time: Clock | Callable[[], float],
    base: float = DEFAULT_BASE_DELAY,
    cap: float = DEFAULT_MAX_DELAY,
    qps: float = DEFAULT_QPS,
    burst: int = DEFAULT_BURST,
) -> MaxOf[K]:
    """client-go's `DefaultControllerRateLimiter`: per-key backoff ⊔ a global token bucket."""
    backoff: ItemBackoff[K] = ItemBackoff(base=base, cap=cap)
    return MaxOf(backoff, TokenBucket(time=time, qps=qps, burst=burst))
