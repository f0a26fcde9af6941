import pytest

from meshtool.clock import FakeClock
from meshtool.runtime import ratelimit


class ManualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_item_backoff_doubles_from_5ms_up_to_the_1000s_cap() -> None:
    backoff: ratelimit.ItemBackoff[str] = ratelimit.ItemBackoff()
    waits = [backoff.when("a") for _ in range(20)]
    expected = [0.005 * 2**n for n in range(18)] + [1000.0, 1000.0]
    assert waits == pytest.approx(expected)
    assert waits[17] == pytest.approx(655.36)
    assert backoff.retries("a") == 20


def test_item_backoff_forget_resets_and_keys_are_independent() -> None:
    backoff: ratelimit.ItemBackoff[str] = ratelimit.ItemBackoff()
    for _ in range(5):
        backoff.when("a")
    assert backoff.when("b") == 0.005
    assert backoff.retries("a") == 5
    backoff.forget("a")
    assert backoff.retries("a") == 0
    assert backoff.when("a") == 0.005
    assert backoff.retries("b") == 1


def test_item_backoff_is_configurable_and_never_overflows() -> None:
    backoff: ratelimit.ItemBackoff[str] = ratelimit.ItemBackoff(base=1.0, cap=30.0)
    assert [backoff.when("a") for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    for _ in range(5000):
        last = backoff.when("a")
    assert last == 30.0


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_item_backoff_rejects_bad_settings(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="base"):
        ratelimit.ItemBackoff[str](base=base, cap=cap)


def test_token_bucket_allows_the_burst_then_spaces_at_qps() -> None:
    time = ManualTime()
    bucket = ratelimit.TokenBucket(time=time, qps=10.0, burst=100)
    assert [bucket.when() for _ in range(100)] == [0.0] * 100
    # Each call beyond the burst borrows a token and waits for its refill at 10 qps.
    assert [bucket.when() for _ in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    time.now = 1.0  # refills 10 tokens: the 3 borrowed ones and 7 more
    assert [bucket.when() for _ in range(7)] == [0.0] * 7
    assert bucket.when() == pytest.approx(0.1)


def test_token_bucket_refills_no_further_than_the_burst() -> None:
    time = ManualTime()
    bucket = ratelimit.TokenBucket(time=time, qps=2.0, burst=3)
    assert [bucket.when() for _ in range(4)] == pytest.approx([0, 0, 0, 0.5])
    time.now = 1000.0
    assert [bucket.when() for _ in range(4)] == pytest.approx([0, 0, 0, 0.5])


def test_token_bucket_takes_a_clock_and_ignores_keys() -> None:
    clock = FakeClock()
    bucket = ratelimit.TokenBucket(time=clock, qps=1.0, burst=1)
    assert bucket.when("x") == 0.0
    assert bucket.when("y") == pytest.approx(1.0)
    clock.advance(2.0)
    assert bucket.when("z") == pytest.approx(0.0)
    bucket.forget("x")
    assert bucket.retries("x") == 0


def test_token_bucket_tolerates_time_going_backwards() -> None:
    time = ManualTime()
    time.now = 10.0
    bucket = ratelimit.TokenBucket(time=time, qps=1.0, burst=1)
    assert bucket.when() == 0.0
    time.now = 5.0
    assert bucket.when() == pytest.approx(1.0)


@pytest.mark.parametrize(("qps", "burst"), [(0.0, 1), (1.0, 0)])
def test_token_bucket_rejects_bad_settings(qps: float, burst: int) -> None:
    with pytest.raises(ValueError, match="qps"):
        ratelimit.TokenBucket(time=ManualTime(), qps=qps, burst=burst)


def test_default_limiter_is_the_max_of_backoff_and_bucket() -> None:
    time = ManualTime()
    limiter: ratelimit.MaxOf[str] = ratelimit.default_limiter(time=time)
    # Within the burst the per-key backoff decides.
    assert [limiter.when("a") for _ in range(3)] == pytest.approx([0.005, 0.01, 0.02])
    assert limiter.retries("a") == 3
    for n in range(997):
        limiter.when(f"k{n}")
    # The bucket is empty now: a fresh key waits for a token, not 5 ms.
    assert limiter.when("fresh") == pytest.approx(0.01)
    limiter.forget("a")
    assert limiter.retries("a") == 0


def test_default_limiter_settings_are_passed_through() -> None:
    limiter: ratelimit.MaxOf[str] = ratelimit.default_limiter(
        time=ManualTime(), base=1.0, cap=4.0, qps=100.0, burst=1000
    )
    assert [limiter.when("a") for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]


def test_max_of_needs_a_limiter() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ratelimit.MaxOf[str]()
