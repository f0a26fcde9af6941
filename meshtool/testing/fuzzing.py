"""A fuzz runner that times every input, and the seed and count every fuzz target uses.

The fuzz tests start from real objects made by the code's own builders (PCR bodies from
`pcrforms`, pods from `fleet`, pools from `capool.new_pool`, PEM from `pem.encode`) and damage
them with `Mutator` (`testing.mutation`, re-exported here). One seed fixes every input, so
input #i of a failing run is reproducible.

`run` feeds inputs to a check, which returns an outcome word or raises; any exception is an
unexpected one (the check catches the documented error types itself). It records counts per
outcome, the costliest input (CPU time, bounded by `MAX_SECONDS`; wall time too) and the
total, and keeps them in `RESULTS` for the pytest plugin's summary. `count()` is how many
inputs each target gets: `$MESHTOOL_FUZZ_COUNT`, by default the CI smoke share; `make fuzz`
sets it to 100,000.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from meshtool.testing.mutation import Mutator

__all__ = ["RESULTS", "Mutator", "Stats", "count", "problems", "run", "seed"]

ENV_COUNT = "MESHTOOL_FUZZ_COUNT"
ENV_SEED = "MESHTOOL_FUZZ_SEED"
SMOKE_COUNT = 2000
MAX_SECONDS = 1.0
"""The bound on one input's CPU time (this process, all threads: a server under test in a
thread counts too); a costlier one fails its target. Wall time is recorded as well, but on a
shared machine it measures the neighbours as much as the code, so it is reported, not bounded."""

T = TypeVar("T")
UNEXPECTED = "UNEXPECTED"


def count() -> int:
    return int(os.environ.get(ENV_COUNT, SMOKE_COUNT))


def seed() -> int:
    return int(os.environ.get(ENV_SEED, 15))


@dataclass
class Stats:
    target: str
    count: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0
    """The most CPU time one input took."""
    max_wall: float = 0.0
    slowest: int = -1
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        return (
            f"{self.target:<19} {self.count:>7} inputs  max {self.max_seconds * 1000:6.1f} ms CPU"
            f" {self.max_wall * 1000:7.1f} ms wall  total {self.total_seconds:6.1f} s  ({kinds})"
        )


RESULTS: list[Stats] = []


def run(target: str, inputs: Iterable[T], check: Callable[[T], str]) -> Stats:
    """Feed every input to `check`; an exception is recorded as an unexpected failure."""
    stats = Stats(target)
    for index, item in enumerate(inputs):
        started, cpu = time.perf_counter(), time.process_time()
        try:
            outcome = check(item)
        except Exception as exc:
            outcome = UNEXPECTED
            if len(stats.failures) < 5:
                stats.failures.append(f"input #{index}: {type(exc).__name__}: {exc!s:.300}")
        _record(stats, index, outcome, time.process_time() - cpu, time.perf_counter() - started)
    RESULTS.append(stats)
    return stats


def _record(stats: Stats, index: int, outcome: str, cpu: float, wall: float) -> None:
    stats.count += 1
    stats.outcomes[outcome] += 1
    stats.total_seconds += wall
    stats.max_wall = max(stats.max_wall, wall)
    if cpu > stats.max_seconds:
        stats.max_seconds, stats.slowest = cpu, index


def problems(stats: Stats, *, minimum: int | None = None) -> list[str]:
    """What is wrong with a finished run: failures, a slow input, too few inputs."""
    found = list(stats.failures)
    if stats.max_seconds > MAX_SECONDS:
        found.append(
            f"input #{stats.slowest} took {stats.max_seconds:.2f}s of CPU (> {MAX_SECONDS}s)"
        )
    wanted = count() if minimum is None else minimum
    if stats.count < wanted:
        found.append(f"only {stats.count} inputs ran, want {wanted}")
    return found
