import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from meshtool.runtime import trigger

pytestmark = pytest.mark.looptime


class Pass:
    """A whole-state pass that records its start times and can be told to fail or be slow."""

    def __init__(self, *, duration: float = 0.0, failures: int = 0) -> None:
        self.duration = duration
        self.failures = failures
        self.starts: list[float] = []

    async def __call__(self) -> None:
        self.starts.append(asyncio.get_running_loop().time())
        await asyncio.sleep(self.duration)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("apiserver unavailable")


@asynccontextmanager
async def looping(
    fn: Callable[[], Awaitable[None]], fire: trigger.Trigger, **kwargs: float
) -> AsyncIterator[asyncio.Task[None]]:
    kwargs.setdefault("resync_period", 3600)
    task = asyncio.create_task(trigger.run_loop(fn, trigger=fire, name="bundles", **kwargs))
    try:
        yield task
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_runs_once_at_start() -> None:
    fn = Pass()
    async with looping(fn, trigger.Trigger()):
        await asyncio.sleep(10)
    assert fn.starts == [0]


async def test_a_burst_of_fires_while_idle_collapses_into_one_pass() -> None:
    fn, fire = Pass(), trigger.Trigger()
    async with looping(fn, fire):
        await asyncio.sleep(10)
        for _ in range(50):
            fire.fire()
        await asyncio.sleep(10)
    assert fn.starts == [0, 10]


async def test_fires_during_a_pass_cause_exactly_one_more_pass() -> None:
    fn, fire = Pass(duration=5), trigger.Trigger()
    async with looping(fn, fire):
        await asyncio.sleep(1)
        for _ in range(20):
            fire.fire()
            await asyncio.sleep(0.1)
        await asyncio.sleep(60)
    assert fn.starts == [0, 5]


async def test_periodic_resync_runs_without_fires() -> None:
    fn = Pass(duration=1)
    async with looping(fn, trigger.Trigger(), resync_period=60):
        await asyncio.sleep(150)
    # The period counts from the end of the previous pass.
    assert fn.starts == [0, 61, 122]


async def test_a_fire_restarts_the_resync_period() -> None:
    fn, fire = Pass(), trigger.Trigger()
    async with looping(fn, fire, resync_period=60):
        await asyncio.sleep(40)
        fire.fire()
        await asyncio.sleep(90)
    assert fn.starts == [0, 40, 100]


async def test_a_failing_pass_is_retried_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    fn = Pass(failures=3)
    async with looping(fn, trigger.Trigger(), resync_period=100):
        await asyncio.sleep(50)
    assert fn.starts == [0, 1, 3, 7]  # 1 s, 2 s, 4 s, then success waits for the resync
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert "apiserver unavailable" in warnings[0].getMessage()
    assert warnings[0].exc_info is None


async def test_backoff_is_capped_and_fires_do_not_cut_it_short() -> None:
    fn, fire = Pass(failures=100), trigger.Trigger()
    async with looping(fn, fire, backoff_base=10, backoff_cap=25):
        await asyncio.sleep(1)
        fire.fire()
        await asyncio.sleep(100)
    assert fn.starts == [0, 10, 30, 55, 80]


async def test_success_resets_the_backoff() -> None:
    fn, fire = Pass(failures=2), trigger.Trigger()
    async with looping(fn, fire):
        await asyncio.sleep(10)
        fn.failures = 1
        fire.fire()
        await asyncio.sleep(10)
    assert fn.starts == [0, 1, 3, 10, 11]


async def test_trigger_wait_reports_whether_it_fired(looptime: float) -> None:
    fire = trigger.Trigger()
    assert not await fire.wait(5)
    assert looptime == 5
    asyncio.get_running_loop().call_later(2, fire.fire)
    assert await fire.wait(5)
    assert looptime == 7
    assert fire.fired
    fire.clear()
    assert not fire.fired
