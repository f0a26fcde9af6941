import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import pytest

from meshtool.runtime import controller, workqueue

pytestmark = pytest.mark.looptime

Behaviour = Callable[[str], Awaitable[controller.Result | None]]


class ScriptedReconciler:
    """Runs `behaviour(key)` and records (key, loop time) for every call."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.calls: list[tuple[str, float]] = []

    async def reconcile(self, key: str) -> controller.Result | None:
        self.calls.append((key, asyncio.get_running_loop().time()))
        return await self.behaviour(key)

    def times(self, key: str) -> list[float]:
        return [t for k, t in self.calls if k == key]


async def succeed(key: str) -> None:
    return None


async def fail(key: str) -> None:
    raise RuntimeError(f"cannot reach the API for {key}")


class Running:
    """The worker pool as a background task, shut down and awaited on exit."""

    def __init__(self, reconciler: ScriptedReconciler, *, workers: int = 1) -> None:
        self.queue: workqueue.WorkQueue[str] = workqueue.WorkQueue()
        self.reconciler = reconciler
        self.workers = workers
        self.observed: list[tuple[str, float]] = []

    def observe(self, outcome: str, seconds: float) -> None:
        self.observed.append((outcome, seconds))

    async def __aenter__(self) -> "Running":
        pool = controller.run_workers(
            self.queue, self.reconciler, workers=self.workers, name="test", observe=self.observe
        )
        self.task = asyncio.create_task(pool)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.queue.shut_down()
        await self.task


async def test_success_forgets_the_key() -> None:
    outcomes = iter([fail, succeed])
    reconciler = ScriptedReconciler(lambda key: next(outcomes)(key))
    async with Running(reconciler) as running:
        running.queue.add("a")
        await asyncio.sleep(0.001)
        assert running.queue.num_requeues("a") == 1
        await asyncio.sleep(1)
        assert running.queue.num_requeues("a") == 0
    assert [o for o, _ in running.observed] == ["error", "success"]


async def test_an_exception_requeues_with_growing_backoff(looptime: float) -> None:
    reconciler = ScriptedReconciler(fail)
    async with Running(reconciler) as running:
        running.queue.add("a")
        await asyncio.sleep(0.3)
        assert running.queue.num_requeues("a") == 6
    # 5 ms, 10 ms, 20 ms, 40 ms, 80 ms between attempts.
    assert reconciler.times("a") == pytest.approx([0, 0.005, 0.015, 0.035, 0.075, 0.155])


async def test_a_terminal_error_is_logged_and_forgotten(caplog: pytest.LogCaptureFixture) -> None:
    async def terminal(key: str) -> None:
        raise controller.TerminalError("spec.maxExpirationSeconds is below 3600")

    reconciler = ScriptedReconciler(terminal)
    async with Running(reconciler) as running:
        running.queue.add("ns/req")
        await asyncio.sleep(1000)
        assert running.queue.num_requeues("ns/req") == 0
    assert len(reconciler.calls) == 1
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.levelno == logging.ERROR
    assert record.name == "meshtool.runtime"
    assert "ns/req" in record.getMessage()
    assert "TerminalError: spec.maxExpirationSeconds is below 3600" in record.getMessage()
    assert running.observed[0][0] == "terminal"


async def test_errors_log_one_line_at_warning_and_the_traceback_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="meshtool.runtime")
    reconciler = ScriptedReconciler(fail)
    async with Running(reconciler) as running:
        running.queue.add("ns/pod")
        await asyncio.sleep(0.001)
    warning, debug = caplog.records[:2]
    assert warning.levelno == logging.WARNING
    assert warning.exc_info is None
    assert warning.getMessage() == (
        "test: reconcile ns/pod failed (retry 1): RuntimeError: cannot reach the API for ns/pod"
    )
    assert debug.levelno == logging.DEBUG
    assert debug.exc_info is not None


async def test_requeue_after_is_a_timed_revisit_not_a_failure(looptime: float) -> None:
    async def revisit(key: str) -> controller.Result:
        return controller.Result(requeue_after=30)

    reconciler = ScriptedReconciler(revisit)
    async with Running(reconciler) as running:
        running.queue.add("a")
        await asyncio.sleep(100)
        assert running.queue.num_requeues("a") == 0
    assert reconciler.times("a") == [0, 30, 60, 90]
    assert {o for o, _ in running.observed} == {"requeue_after"}


async def test_requeue_after_resets_earlier_failures(looptime: float) -> None:
    failures = 3

    async def flaky(key: str) -> controller.Result:
        nonlocal failures
        if failures:
            failures -= 1
            raise RuntimeError("flaky")
        return controller.Result(requeue_after=10)

    reconciler = ScriptedReconciler(flaky)
    async with Running(reconciler) as running:
        running.queue.add("a")
        await asyncio.sleep(0.03)
        assert running.queue.num_requeues("a") == 3
        await asyncio.sleep(1)
        assert running.queue.num_requeues("a") == 0
        await asyncio.sleep(10)
    assert reconciler.times("a") == pytest.approx([0, 0.005, 0.015, 0.035, 10.035])


async def test_result_without_requeue_after_is_a_plain_success() -> None:
    async def empty(key: str) -> controller.Result:
        return controller.Result()

    reconciler = ScriptedReconciler(empty)
    async with Running(reconciler) as running:
        running.queue.add("a")
        await asyncio.sleep(100)
    assert len(reconciler.calls) == 1
    assert running.observed == [("success", 0.0)]


async def test_observe_gets_the_duration_in_loop_seconds() -> None:
    async def slow(key: str) -> None:
        await asyncio.sleep(2.5)

    async with Running(ScriptedReconciler(slow)) as running:
        running.queue.add("a")
        await asyncio.sleep(3)
    assert running.observed == [("success", 2.5)]


async def test_n_workers_never_reconcile_one_key_at_once() -> None:
    rng = random.Random(7)
    active: set[str] = set()
    peak = 0

    async def careful(key: str) -> controller.Result | None:
        nonlocal peak
        assert key not in active, f"{key} reconciled by two workers at once"
        active.add(key)
        peak = max(peak, len(active))
        try:
            await asyncio.sleep(rng.uniform(0.01, 0.2))
            if rng.random() < 0.2:
                raise RuntimeError("transient")
            return controller.Result(requeue_after=0.1) if rng.random() < 0.2 else None
        finally:
            active.discard(key)

    reconciler = ScriptedReconciler(careful)
    keys = [f"k{n}" for n in range(10)]
    async with Running(reconciler, workers=6) as running:
        for _ in range(500):
            running.queue.add(rng.choice(keys))
            await asyncio.sleep(rng.uniform(0, 0.02))
        await asyncio.sleep(5)
    assert peak > 1
    assert {o for o, _ in running.observed} >= {"success", "error", "requeue_after"}
    assert not [o for o, _ in running.observed if o == "terminal"]


async def test_workers_return_when_the_queue_shuts_down() -> None:
    queue: workqueue.WorkQueue[str] = workqueue.WorkQueue()
    task = asyncio.create_task(
        controller.run_workers(queue, ScriptedReconciler(succeed), workers=3, name="t")
    )
    await asyncio.sleep(1)
    queue.shut_down()
    await asyncio.wait_for(task, timeout=1)


async def test_cancellation_propagates_and_still_marks_the_key_done(looptime: float) -> None:
    seen_cancel = asyncio.Event()

    async def stuck(key: str) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            seen_cancel.set()
            raise

    queue: workqueue.WorkQueue[str] = workqueue.WorkQueue()
    task = asyncio.create_task(
        controller.run_workers(queue, ScriptedReconciler(stuck), workers=2, name="t")
    )
    queue.add("a")
    await asyncio.sleep(1)
    assert queue.depth().processing == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen_cancel.is_set()
    assert queue.depth() == workqueue.Depth(queued=0, processing=0, delayed=0)
    assert queue.num_requeues("a") == 0  # cancellation is not a failure
    assert looptime == 1


async def test_run_workers_needs_a_worker() -> None:
    queue: workqueue.WorkQueue[str] = workqueue.WorkQueue()
    with pytest.raises(ValueError, match="workers"):
        await controller.run_workers(queue, ScriptedReconciler(succeed), workers=0, name="t")


def test_result_rejects_a_negative_delay() -> None:
    with pytest.raises(ValueError, match="requeue_after"):
        controller.Result(requeue_after=-1)
