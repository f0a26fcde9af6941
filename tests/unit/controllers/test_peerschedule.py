"""Refresh scheduling and the accept rule of fetched bundles (pure, no clock, no sleeping)."""

from __future__ import annotations

import datetime as dt

import pytest

from meshtool.api.spiffebundle import SpiffeBundle
from meshtool.clock import FakeClock
from meshtool.controllers import peerschedule
from meshtool.controllers.peerschedule import Published, Timing
from meshtool.pki import capool

T = Timing(min_refresh=30, max_refresh=86400, default_hint=300)
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("hint", "seconds"), [(None, 300), (120, 120), (1, 30), (10**9, 86400), (30, 30)]
)
def test_success_waits_the_clamped_hint(hint: int | None, seconds: float) -> None:
    assert peerschedule.next_after_success(NOW, hint, T) == NOW + dt.timedelta(seconds=seconds)


def test_failures_back_off_from_the_minimum_and_never_past_the_hint() -> None:
    delays = [peerschedule.retry_delay(n, 300, T) for n in range(1, 8)]
    assert delays == [30, 60, 120, 240, 300, 300, 300]
    assert [peerschedule.retry_delay(n, None, T) for n in (1, 9)] == [30, 300]
    # A hint below the minimum: the minimum, every time (never hammering).
    assert peerschedule.retry_delay(5, 2, T) == 30
    assert peerschedule.next_after_failure(NOW, 2, 300, T) == NOW + dt.timedelta(seconds=60)


def test_short_test_timings_stay_bounded_by_the_hint() -> None:
    fast = Timing(min_refresh=1, max_refresh=60)
    assert [peerschedule.retry_delay(n, 3, fast) for n in range(1, 5)] == [1, 2, 3, 3]


@pytest.fixture(scope="module")
def roots():
    clock = FakeClock()
    return [capool.generate_ca(ca_id=i, name="peer", clock=clock).root for i in ("1", "2")]


def test_accept_publishes_new_content_and_metadata_but_not_an_equal_bundle(roots) -> None:
    one = SpiffeBundle((roots[0],), sequence=4, refresh_hint=60)
    assert peerschedule.accept(one, None)
    published = Published(one.pem(), 4, 60)
    assert not peerschedule.accept(one, published)
    assert peerschedule.accept(SpiffeBundle((roots[0], roots[1]), 5, 60), published)
    assert peerschedule.accept(SpiffeBundle((roots[0],), 4, 120), published)


def test_accept_refuses_a_lower_sequence(roots) -> None:
    published = Published(SpiffeBundle((roots[0],), 9).pem(), 9)
    with pytest.raises(peerschedule.StaleSequence, match="8 is lower than the published 9"):
        peerschedule.accept(SpiffeBundle((roots[1],), 8), published)
    assert peerschedule.accept(SpiffeBundle((roots[1],), None), published)
