"""When to fetch a peer's bundle next, and what to publish from a fetch: pure decisions.

Scheduling (SPIFFE Federation: poll at the refresh hint, and on failure wait instead of
hammering):
* after a good fetch the next one is `refresh_hint` seconds later (`Timing.default_hint`, 300 s,
  when the bundle gives none), clamped to [`min_refresh`, `max_refresh`];
* after the n-th failure in a row the next try is `min_refresh * 2**(n-1)`, capped at that same
  clamped hint (the last good bundle's, else the default): a broken peer is retried with
  backoff but never less often than a healthy one is polled.

`accept` decides what a parsed bundle does to the published one: a lower `spiffe_sequence`
than the published bundle's is refused (a replayed or rolled-back bundle); otherwise the bundle
is published when its anchors or metadata differ from the published ones, and left as it is
when they are equal. `Peer` is one peer's schedule; `restored` seeds it from the status a
previous owner wrote (`nextFetchTime`, `consecutiveFailures`), so a restart or a hand-off keeps
the backoff. Nothing here does I/O or reads a clock: times come in as arguments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from meshtool import pacing
from meshtool.api import spiffebundle, wire


@dataclass(frozen=True, slots=True)
class Timing:
    min_refresh: float = 30.0
    max_refresh: float = 86400.0
    default_hint: float = 300.0
    """SPIFFE Federation's suggested poll interval for bundles without a hint."""


@dataclass(frozen=True, slots=True)
class Published:
    """What the federated CTB of a trust domain carries (the last good bundle)."""

    pem: str
    sequence: int | None = None
    refresh_hint: int | None = None


def interval(hint: int | None, timing: Timing) -> float:
    wanted = timing.default_hint if hint is None else float(hint)
    return min(timing.max_refresh, max(timing.min_refresh, wanted))


def next_after_success(now: dt.datetime, hint: int | None, timing: Timing) -> dt.datetime:
    return now + dt.timedelta(seconds=interval(hint, timing))


def retry_delay(failures: int, hint: int | None, timing: Timing) -> float:
    """Seconds before the next try after `failures` (>= 1) failures in a row."""
    cap = interval(hint, timing)
    return pacing.backoff(failures - 1, base=min(timing.min_refresh, cap), cap=cap)


def next_after_failure(
    now: dt.datetime, failures: int, hint: int | None, timing: Timing
) -> dt.datetime:
    return now + dt.timedelta(seconds=retry_delay(failures, hint, timing))


class StaleSequence(ValueError):
    pass


def accept(bundle: spiffebundle.SpiffeBundle, published: Published | None) -> bool:
    """True when `bundle` should replace the published one; raises `StaleSequence` for a
    bundle older than it."""
    if published is None:
        return True
    if (
        bundle.sequence is not None
        and published.sequence is not None
        and bundle.sequence < published.sequence
    ):
        raise StaleSequence(
            f"spiffe_sequence {bundle.sequence} is lower than the published {published.sequence}"
        )
    return (bundle.pem(), bundle.sequence, bundle.refresh_hint) != (
        published.pem,
        published.sequence,
        published.refresh_hint,
    )


@dataclass(slots=True)
class Peer:
    generation: int
    trust_domain: str
    next_at: dt.datetime
    failures: int = 0


def restored(
    generation: int,
    trust_domain: str,
    status: Mapping[str, object],
    now: dt.datetime,
    published: bool,
) -> Peer:
    """The schedule the status records, when it is of this generation (else: fetch now)."""
    failures = as_int(status.get("consecutiveFailures")) or 0
    at = wire.time_or_none(status.get("nextFetchTime"))
    if status.get("observedGeneration") != generation or at is None:
        return Peer(generation, trust_domain, now)
    if not published and not failures:  # the CTB went away: fetch it back now
        return Peer(generation, trust_domain, now)
    return Peer(generation, trust_domain, at, failures)


def as_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None
