"""Injected time.

Everything that reads the time takes a `Clock`, so tests drive time instead of sleeping.
`SystemClock` is the real one. `FakeClock` only moves when told to. Both return timezone-aware
UTC datetimes; callers that need whole seconds truncate themselves (the PCR status rules do).
`format_rfc3339` is the one writer of whole-second RFC 3339 times (API objects, pool state).
`monotonic()` is for measuring durations and deadlines; it never goes backwards. `sleep()` is
how polling loops wait, so a `FakeClock` drives them too: its sleep moves the fake time forward
by the amount asked and yields to the event loop once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Protocol

_FIELDS = "%04d-%02d-%02dT%02d:%02d:%02dZ"


def format_rfc3339(t: dt.datetime) -> str:
    """`2026-01-01T00:00:00Z`: UTC, whole seconds (the fraction is dropped); naive is refused.
    Written field by field (a third of `strftime`'s cost; a status write formats four times),
    so years below 1000 keep their four digits, which glibc's `%Y` drops."""
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t!r}: an RFC 3339 time needs a timezone")
    if t.tzinfo is not dt.UTC:
        t = t.astimezone(dt.UTC)
    return _FIELDS % (t.year, t.month, t.day, t.hour, t.minute, t.second)


class Clock(Protocol):
    def now(self) -> dt.datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that stands still until `advance` is called."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        self._mono = 1000.0

    def now(self) -> dt.datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self._now += dt.timedelta(seconds=seconds)
        self._mono += seconds
