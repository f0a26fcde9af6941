"""A work queue of keys with client-go's semantics, for one asyncio event loop.

The queue holds keys, never events: a reconciler rereads the current state for a key, so ten
changes to one object before a worker gets to it need one reconcile, not ten. Three collections
carry the invariants, exactly as in client-go's `util/workqueue/queue.go`:

* `queue`, a FIFO of keys ready to hand out. A key is in it at most once.
* `dirty`, keys that need processing. Every queued key is dirty; `add` of a dirty key is a no-op,
  which is how bursts collapse.
* `processing`, keys a worker holds between `get` and `done`. `add` of such a key only marks it
  dirty; `done` puts it back in the queue. So **one key is never held by two workers at once**,
  and a change that lands mid-reconcile still gets its own reconcile afterwards.

Delayed adds (`add_after`, `add_rate_limited`) sit in loop timers outside those sets until they
fire; a key has at most one pending timer and a new delay can only bring it forward. Failure
counting and backoff live in the injected `ratelimit.RateLimiter`; the default is client-go's,
driven by the loop's clock.

Shutdown follows client-go too: `shut_down` drops pending timers and ignores later adds, but keys
already queued are still handed out; `get` raises `ShutDown` once nothing is left. There are no
locks: everything runs on one event loop and no method awaits between reading and writing state.
Each pushed key wakes one waiting worker (client-go's `cond.Signal()`), never all of them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from meshtool.runtime import ratelimit

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """Raised by `WorkQueue.get` when the queue is shut down and has nothing left to hand out."""


@dataclass(frozen=True, slots=True)
class Depth:
    """Sizes for metrics: ready to hand out, held by workers, waiting on a timer."""

    queued: int
    processing: int
    delayed: int


class WorkQueue(Generic[K]):
    def __init__(self, *, limiter: ratelimit.RateLimiter[K] | None = None) -> None:
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._delayed: dict[K, asyncio.TimerHandle] = {}
        if limiter is None:
            limiter = ratelimit.default_limiter(time=_loop_time)
        self._limiter = limiter
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._idle = asyncio.Event()
        self._shutting_down = False

    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._push(key)

    async def get(self) -> K:
        """Wait for a key and mark it processing; the caller must call `done(key)` afterwards."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown
            await self._wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._push(key)
        elif not self._processing:
            self._idle.set()

    def add_after(self, key: K, delay: float) -> None:
        """Add `key` in `delay` seconds, unless a pending add for it is due sooner."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        pending = self._delayed.get(key)
        if pending is not None:
            if pending.when() <= deadline:
                return
            pending.cancel()
        self._delayed[key] = loop.call_at(deadline, self._fire, key)

    def add_rate_limited(self, key: K) -> None:
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset the key's failure count; call it when the key succeeded or was given up."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._limiter.retries(key)

    def shut_down(self) -> None:
        self._shutting_down = True
        for timer in self._delayed.values():
            timer.cancel()
        self._delayed.clear()
        while self._waiters:  # every waiter, to see the shutdown
            self._wake_one()

    async def shut_down_with_drain(self) -> None:
        """Shut down, then wait until every key handed out so far is `done`."""
        self.shut_down()
        while self._processing:
            self._idle.clear()
            await self._idle.wait()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def depth(self) -> Depth:
        return Depth(len(self._queue), len(self._processing), len(self._delayed))

    def __len__(self) -> int:
        return len(self._queue)

    def _push(self, key: K) -> None:
        self._queue.append(key)
        self._wake_one()

    async def _wait(self) -> None:
        """Sleep until `_wake_one` picks this waiter. A waiter cancelled after it was picked
        passes its turn on, so no key is left queued while a worker sleeps."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()
            else:
                self._waiters.remove(waiter)
            raise

    def _wake_one(self) -> None:
        """Wake the longest-waiting worker: one per key pushed (waking every idle worker for
        each key, as one shared Event would, costs a task switch per idle worker per key)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _fire(self, key: K) -> None:
        del self._delayed[key]
        self.add(key)


def _loop_time() -> float:
    return asyncio.get_running_loop().time()
