"""A coalescing trigger and the loop it drives, for whole-state reconcilers.

Some reconcilers have no per-object key: the trust-bundle publisher recomputes *all* desired
ClusterTrustBundles and makes the cluster match. For those, every relevant event just calls
`Trigger.fire()`, and `run_loop` runs the pass (spire-controller-manager's
`pkg/reconciler` pattern):

* `fire()` never blocks and never queues: any number of fires before the next pass starts
  collapse into one pass. A fire *during* a pass causes exactly one more pass after it, so no
  change is missed.
* With no fires, the pass still runs every `resync_period` seconds (level-triggered safety net).
* A pass that raises is logged and retried after an exponential backoff (1 s doubling, capped
  at 30 s by default). Fires do not cut a backoff short, so a failing pass cannot be hot-looped
  by a stream of events. The loop only ends when cancelled.

Timers use the running event loop's clock, so fake loop time (looptime) drives it in tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from meshtool import pacing

log = logging.getLogger("meshtool.runtime")


class Trigger:
    def __init__(self) -> None:
        self._fired = asyncio.Event()

    def fire(self) -> None:
        self._fired.set()

    @property
    def fired(self) -> bool:
        return self._fired.is_set()

    def clear(self) -> None:
        self._fired.clear()

    async def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a fire; True if one came (it stays set)."""
        try:
            async with asyncio.timeout(timeout):
                await self._fired.wait()
        except TimeoutError:
            return False
        return True


async def run_loop(
    fn: Callable[[], Awaitable[None]],
    *,
    trigger: Trigger,
    resync_period: float,
    name: str,
    backoff_base: float = 1.0,
    backoff_cap: float = 30.0,
) -> None:
    """Run `fn` now, then again on every (coalesced) fire and every `resync_period`; forever."""
    failures = 0
    while True:
        trigger.clear()  # fires from here on are for state this pass may not see: run again
        try:
            await fn()
        except Exception as exc:
            failures += 1
            delay = pacing.backoff(failures - 1, base=backoff_base, cap=backoff_cap)
            log.warning(
                "%s: pass failed (attempt %d, retry in %.1fs): %s", name, failures, delay, exc
            )
            log.debug("%s: pass error", name, exc_info=exc)
            await asyncio.sleep(delay)
            continue
        failures = 0
        await trigger.wait(resync_period)
