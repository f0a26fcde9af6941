"""The generic worker pool: keys out of a work queue, into a reconciler, outcomes back.

This is sample-controller's `processNextWorkItem`, and the only place that does queue
discipline. A reconciler never sees the queue; it takes a key and returns or raises, and the
worker maps that onto the queue (controller-runtime's mapping):

=============================  =========================================================
reconcile outcome              queue operations
=============================  =========================================================
returns `None` or `Result()`   `forget(key)`: success resets the key's backoff
`Result(requeue_after=s)`      `forget(key)`, then `add_after(key, s)`: a timed revisit,
                               not a failure, so it does not grow the backoff
raises `TerminalError`         log, `forget(key)`: retrying cannot help
raises `Requeue`               `add_rate_limited(key)`, logged quietly: an expected retry
                               (the object changed under us; the next try rereads it)
raises any other `Exception`   log a warning, `add_rate_limited(key)`: retry with backoff
=============================  =========================================================

`done(key)` always runs, even when the worker is cancelled, so a key is never stuck in
`processing`. Because the queue never hands one key to two workers, a reconciler may assume it
is the only one working on its key in this process (other replicas are another matter).
Workers stop when the queue is shut down and empty, or when cancelled; cancellation propagates.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from meshtool.runtime import workqueue

log = logging.getLogger("meshtool.runtime")

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)


@dataclass(frozen=True, slots=True)
class Result:
    requeue_after: float | None = None
    """Seconds until the key should be reconciled again; None for no timed revisit."""

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after < 0:
            raise ValueError(f"requeue_after must be >= 0, got {self.requeue_after}")


class TerminalError(Exception):
    """The key cannot succeed until something else changes: log it and stop retrying.

    A later change to the object re-adds the key through the informer, so giving up here does
    not lose work; it only stops a retry loop that cannot make progress.
    """


class Requeue(Exception):
    """Retry this key with backoff; expected (e.g. a write conflict), so not a warning."""


class Reconciler(Protocol[K_contra]):
    async def reconcile(self, key: K_contra) -> Result | None:
        """Make the world match the desired state for `key`.

        The contract, as in controller-runtime's `reconcile.go`:

        * Level-based: only the key is passed, never the event that caused it. Reread the
          current state (from the informer cache) every time; the object may be gone.
        * Idempotent: the same key may be reconciled again at any time, including right after
          a success, so running twice must be safe.
        * Return `None` (or `Result()`) when done. Return `Result(requeue_after=s)` to be
          called again in `s` seconds, for example to refresh a certificate.
        * Raise `TerminalError` for failures that retrying cannot fix.
        * Raise any other exception for "could not finish, retry me": the key is retried with
          per-key exponential backoff. Decisions (deny, fail a request) are not errors; write
          them and return.
        """
        ...


class Outcome(enum.StrEnum):
    """How one reconcile ended; the label passed to `observe`."""

    SUCCESS = "success"
    REQUEUE_AFTER = "requeue_after"
    ERROR = "error"
    TERMINAL = "terminal"


Observe = Callable[[str, float], None]
"""A metrics hook: called after each reconcile with its outcome and its duration in seconds."""


async def run_workers(
    queue: workqueue.WorkQueue[K],
    reconciler: Reconciler[K],
    *,
    workers: int,
    name: str,
    observe: Observe | None = None,
) -> None:
    """Run `workers` concurrent workers until the queue shuts down (or this is cancelled)."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    async with asyncio.TaskGroup() as group:
        for n in range(workers):
            work = _work(queue, reconciler, name=name, observe=observe)
            group.create_task(work, name=f"{name}-worker-{n}")


async def _work(
    queue: workqueue.WorkQueue[K],
    reconciler: Reconciler[K],
    *,
    name: str,
    observe: Observe | None,
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            key = await queue.get()
        except workqueue.ShutDown:
            return
        started = loop.time()
        try:
            outcome = await _process(queue, reconciler, key, name=name)
        finally:
            queue.done(key)
        if observe is not None:
            observe(outcome, loop.time() - started)


async def _process(
    queue: workqueue.WorkQueue[K], reconciler: Reconciler[K], key: K, *, name: str
) -> Outcome:
    try:
        result = await reconciler.reconcile(key)
    except TerminalError as exc:
        log.error("%s: giving up on %s: %s", name, key, _describe(exc))
        log.debug("%s: terminal error for %s", name, key, exc_info=exc)
        queue.forget(key)
        return Outcome.TERMINAL
    except Exception as exc:
        queue.add_rate_limited(key)
        retries = queue.num_requeues(key)
        level = logging.DEBUG if isinstance(exc, Requeue) else logging.WARNING
        log.log(level, "%s: reconcile %s failed (retry %d): %s", name, key, retries, _describe(exc))
        log.debug("%s: error for %s", name, key, exc_info=exc)
        return Outcome.ERROR
    queue.forget(key)
    if result is None or result.requeue_after is None:
        return Outcome.SUCCESS
    queue.add_after(key, result.requeue_after)
    return Outcome.REQUEUE_AFTER


def _describe(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
