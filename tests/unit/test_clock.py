"""The one writer of whole-second RFC 3339 times."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from meshtool.clock import format_rfc3339


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (dt.datetime(2026, 12, 2, 13, 5, 7, 999999, tzinfo=dt.UTC), "2026-12-02T13:05:07Z"),
        (dt.datetime(1, 1, 1, tzinfo=dt.UTC), "0001-01-01T00:00:00Z"),
        (dt.datetime(999, 3, 1, 4, 5, 6, tzinfo=dt.UTC), "0999-03-01T04:05:06Z"),
        (dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC), "9999-12-31T23:59:59Z"),
        (
            dt.datetime(2026, 3, 1, 1, 2, 3, tzinfo=dt.timezone(dt.timedelta(hours=5))),
            "2026-02-28T20:02:03Z",
        ),
        (
            dt.datetime(2026, 7, 1, 0, 0, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")),
            "2026-06-30T22:00:00Z",
        ),
    ],
)
def test_utc_whole_seconds_with_four_digit_years(when, text):
    assert format_rfc3339(when) == text
    assert dt.datetime.fromisoformat(text) == when.replace(microsecond=0)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="naive datetime"):
        format_rfc3339(dt.datetime(2026, 1, 1))
