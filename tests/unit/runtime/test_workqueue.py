import asyncio
import random

import pytest

from meshtool.runtime import ratelimit, workqueue

pytestmark = pytest.mark.looptime


def make_queue() -> workqueue.WorkQueue[str]:
    return workqueue.WorkQueue()


async def test_adds_of_a_queued_key_collapse() -> None:
    q = make_queue()
    for key in ["a", "a", "b", "a", "b"]:
        q.add(key)
    assert len(q) == 2
    assert [await q.get(), await q.get()] == ["a", "b"]
    assert q.depth() == workqueue.Depth(queued=0, processing=2, delayed=0)


async def test_re_add_while_processing_is_deferred_until_done_and_delivered_once() -> None:
    q = make_queue()
    q.add("a")
    assert await q.get() == "a"
    q.add("a")
    q.add("a")
    assert len(q) == 0  # not handed out again while a worker holds it
    q.done("a")
    assert len(q) == 1
    assert await q.get() == "a"
    q.done("a")
    assert q.depth() == workqueue.Depth(queued=0, processing=0, delayed=0)


async def test_done_without_a_re_add_does_not_requeue() -> None:
    q = make_queue()
    q.add("a")
    q.done(await q.get())
    assert len(q) == 0


async def test_get_waits_for_an_add(looptime: float) -> None:
    q = make_queue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(5)
    assert not getter.done()
    q.add("a")
    assert await getter == "a"
    assert looptime == 5


async def test_keys_come_out_in_fifo_order() -> None:
    q = make_queue()
    keys = [f"k{n}" for n in range(20)]
    for key in keys:
        q.add(key)
    assert [await q.get() for _ in keys] == keys


async def test_concurrent_workers_never_hold_the_same_key_and_lose_no_adds() -> None:
    rng = random.Random(20260101)
    q = make_queue()
    keys = [f"ns/pod-{n}" for n in range(12)]
    held: set[str] = set()
    last_added: dict[str, float] = {}
    last_started: dict[str, float] = {}
    max_held = 0
    loop = asyncio.get_running_loop()

    async def worker() -> None:
        nonlocal max_held
        while True:
            try:
                key = await q.get()
            except workqueue.ShutDown:
                return
            assert key not in held, f"{key} handed to two workers"
            held.add(key)
            max_held = max(max_held, len(held))
            last_started[key] = loop.time()
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            held.discard(key)
            q.done(key)

    async def producer() -> None:
        for _ in range(2000):
            key = rng.choice(keys)
            last_added[key] = loop.time()
            q.add(key)
            if rng.random() < 0.3:
                await asyncio.sleep(rng.uniform(0.0, 0.05))

    workers = [asyncio.create_task(worker()) for _ in range(8)]
    await producer()
    await asyncio.sleep(10)  # let the workers catch up
    await q.shut_down_with_drain()
    await asyncio.gather(*workers)

    assert max_held > 1  # the workers really did run concurrently
    for key, added in last_added.items():
        assert last_started[key] >= added, f"the last add of {key} was never processed"


async def test_add_after_delivers_in_deadline_order(looptime: float) -> None:
    q = make_queue()
    q.add_after("a", 5)
    q.add_after("b", 2)
    q.add_after("c", 10)
    assert q.depth().delayed == 3
    assert len(q) == 0
    got = []
    for _ in range(3):
        got.append((await q.get(), float(looptime)))
    assert got == [("b", 2), ("a", 5), ("c", 10)]
    assert q.depth().delayed == 0


async def test_add_after_keeps_the_earliest_deadline(looptime: float) -> None:
    q = make_queue()
    q.add_after("a", 10)
    q.add_after("a", 3)  # brings it forward
    q.add_after("a", 20)  # does not postpone it
    assert q.depth().delayed == 1
    assert await q.get() == "a"
    assert looptime == 3
    assert q.depth().delayed == 0
    q.done("a")
    await asyncio.sleep(30)
    assert len(q) == 0  # the replaced timers never fire


async def test_add_after_zero_or_negative_adds_now() -> None:
    q = make_queue()
    q.add_after("a", 0)
    q.add_after("b", -1)
    assert len(q) == 2
    assert q.depth().delayed == 0


async def test_delayed_add_of_a_queued_key_collapses(looptime: float) -> None:
    q = make_queue()
    q.add("a")
    q.add_after("a", 1)
    await asyncio.sleep(2)
    assert len(q) == 1


async def test_rate_limited_backoff_grows_and_forget_resets(looptime: float) -> None:
    q = make_queue()
    waits = []
    for _ in range(5):
        started = float(looptime)
        q.add_rate_limited("a")
        assert await q.get() == "a"
        waits.append(looptime - started)
        q.done("a")
    assert waits == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    assert q.num_requeues("a") == 5
    q.forget("a")
    assert q.num_requeues("a") == 0
    started = float(looptime)
    q.add_rate_limited("a")
    await q.get()
    assert looptime - started == pytest.approx(0.005)


async def test_an_injected_limiter_is_used(looptime: float) -> None:
    limiter: ratelimit.ItemBackoff[str] = ratelimit.ItemBackoff(base=7.0, cap=7.0)
    q = workqueue.WorkQueue(limiter=limiter)
    q.add_rate_limited("a")
    await q.get()
    assert looptime == 7
    assert q.num_requeues("a") == 1


async def test_default_bucket_runs_on_loop_time(looptime: float) -> None:
    q = make_queue()
    for n in range(ratelimit.DEFAULT_BURST):
        q.add_rate_limited(f"k{n}")
    q.add_rate_limited("late")  # one more than the burst in the same instant waits for a token
    for _ in range(ratelimit.DEFAULT_BURST):
        await q.get()
    assert await q.get() == "late"
    assert looptime == pytest.approx(1 / ratelimit.DEFAULT_QPS)


async def test_shut_down_wakes_every_waiting_getter(looptime: float) -> None:
    q = make_queue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(1)
    q.shut_down()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(r, workqueue.ShutDown) for r in results)
    assert looptime == 1
    assert q.shutting_down


async def test_shut_down_hands_out_what_is_queued_then_raises() -> None:
    q = make_queue()
    q.add("a")
    q.add_after("b", 1)
    q.shut_down()
    q.add("c")
    q.add_after("d", 1)
    q.add_rate_limited("e")
    assert q.depth() == workqueue.Depth(queued=1, processing=0, delayed=0)
    assert await q.get() == "a"
    with pytest.raises(workqueue.ShutDown):
        await q.get()


async def test_shut_down_with_drain_waits_for_processing(looptime: float) -> None:
    q = make_queue()
    q.add("a")
    q.add("b")
    a, b = await q.get(), await q.get()
    drain = asyncio.create_task(q.shut_down_with_drain())
    await asyncio.sleep(1)
    q.done(a)
    await asyncio.sleep(1)
    assert not drain.done()
    q.done(b)
    await drain
    assert looptime == 2


async def test_shut_down_with_drain_returns_at_once_when_idle(looptime: float) -> None:
    q = make_queue()
    await q.shut_down_with_drain()
    assert looptime == 0


async def test_one_key_wakes_one_waiting_worker_not_all() -> None:
    q = make_queue()
    waits = 0
    real_wait = q._wait

    async def counted() -> None:
        nonlocal waits
        waits += 1
        await real_wait()

    q._wait = counted  # type: ignore[method-assign]
    workers = [asyncio.create_task(q.get()) for _ in range(8)]
    await asyncio.sleep(0)
    assert waits == 8
    q.add("a")
    for _ in range(5):
        await asyncio.sleep(0)
    assert [w.result() for w in workers if w.done()] == ["a"]
    assert waits == 8  # no worker woke for nothing and went back to sleep
    q.add("b")
    await asyncio.sleep(0)
    assert sorted(w.result() for w in workers if w.done()) == ["a", "b"]
    q.shut_down()
    results = await asyncio.gather(*workers, return_exceptions=True)
    assert sum(isinstance(r, workqueue.ShutDown) for r in results) == 6


async def test_a_worker_cancelled_after_it_was_woken_passes_the_key_on() -> None:
    q = make_queue()
    first, second = asyncio.create_task(q.get()), asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("a")  # wakes `first`
    first.cancel()  # before it runs
    assert await asyncio.wait_for(second, timeout=1) == "a"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert q.depth() == workqueue.Depth(queued=0, processing=1, delayed=0)


async def test_a_cancelled_waiter_is_forgotten() -> None:
    q = make_queue()
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    q.add("a")
    assert await asyncio.wait_for(q.get(), timeout=1) == "a"
    assert not q._waiters
