"""The soak's report: PCR accounting, the faults, resources over time, and the leak criterion.

`growth_problems` is the criterion `soak.py` documents: after `settle` seconds of a process's
life, the median of its last three samples may exceed the median of its first three by at most
10% + 16 MiB of RSS, 16 open descriptors and 16 asyncio tasks. Series too short to judge are
named as such, never counted as passing or failing.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Callable, Sequence

from soakload import Ledger, Load, Sample

RSS_SLACK_MB, RSS_SLACK_RATIO, FD_SLACK, TASK_SLACK = 16.0, 0.10, 16, 16
FIVE_MINUTES = 300.0


def at_time(series: list[Sample], t: float) -> Sample | None:
    """The sample nearest to `t` seconds into the soak, if the series reaches that far."""
    if not series or series[-1].at < t - 15:
        return None
    return min(series, key=lambda s: abs(s.at - t))


def _show(sample: Sample | None) -> str:
    if sample is None:
        return "-"
    rss = f"{sample.rss_mb:.0f} MB" if sample.rss_mb is not None else "?"
    tasks = f"{sample.tasks:.0f}" if sample.tasks is not None else "?"
    return f"{rss} / {sample.fds} fd / {tasks} tasks"


def resource_rows(series: dict[str, list[Sample]]) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, samples in series.items():
        first, last = samples[0], samples[-1]
        five = at_time(samples, FIVE_MINUTES) if last.at >= FIVE_MINUTES else None
        rows.append((name, _show(first), _show(five), _show(last)))
    return rows


def _median(samples: Sequence[Sample], value: Callable[[Sample], float | None]) -> float | None:
    values = [v for v in map(value, samples) if v is not None]
    return statistics.median(values) if values else None


def growth_problems(series: dict[str, list[Sample]], settle: float) -> tuple[list[str], list[str]]:
    """(problems, processes too short-lived to judge)."""
    problems, unjudged = [], []
    for name, samples in series.items():
        born = samples[0].at
        settled = [s for s in samples if s.at >= born + settle]
        if len(settled) < 6:
            unjudged.append(name)
            continue
        head, tail = settled[:3], settled[-3:]
        checks: list[tuple[str, Callable[[Sample], float | None], Callable[[float], float]]] = [
            ("RSS MB", lambda s: s.rss_mb, lambda v: v * (1 + RSS_SLACK_RATIO) + RSS_SLACK_MB),
            ("open fds", lambda s: s.fds, lambda v: v + FD_SLACK),
            ("asyncio tasks", lambda s: s.tasks, lambda v: v + TASK_SLACK),
        ]
        for what, value, limit in checks:
            before, after = _median(head, value), _median(tail, value)
            if before is None or after is None:
                problems.append(f"{name}: no {what} samples")
            elif after > limit(before):
                problems.append(f"{name}: {what} grew from {before:.0f} to {after:.0f}")
    return problems, unjudged


def longest_gap(issued: list[float], start: float, end: float) -> float:
    """The longest pause between Issued statuses seen in [start, end]."""
    lo, hi = bisect.bisect_left(issued, start), bisect.bisect_right(issued, end)
    points = [start, *issued[lo:hi], end]
    return max(b - a for a, b in itertools.pairwise(points))


def accounting(ledger: Ledger, load: Load) -> tuple[list[tuple[str, str]], list[str]]:
    lost = ledger.pending()
    latencies = sorted(
        max(0.0, ledger.issued[n] - t) * 1000
        for n, t in ledger.created.items()
        if n in ledger.issued
    )
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else 0.0
    rows = [
        ("PCRs created", f"{len(ledger.created)}"),
        ("issued", f"{len(set(ledger.created) & set(ledger.issued))}"),
        ("lost (never issued)", f"{len(lost)}"),
        ("issued twice (a second chain)", f"{len(ledger.twice)}"),
        ("Denied / Failed", f"{len(ledger.denied)} / {len(ledger.failed)}"),
        ("latency p50 / p99", f"{statistics.median(latencies or [0]):.0f} / {p99:.0f} ms"),
        ("create retries (during faults)", f"{load.create_errors}"),
        ("recorder relists", f"{ledger.relists}"),
        ("PCRs deleted after issue", f"{len(load.deleted)}"),
    ]
    problems = []
    if lost:
        problems.append(f"{len(lost)} PCRs never issued (e.g. {ledger.names.get(lost[0])})")
    for what, names in (("issued twice", ledger.twice), ("Denied", ledger.denied)):
        if names:
            problems.append(f"{len(names)} PCRs {what}")
    if ledger.failed:
        problems.append(f"{len(ledger.failed)} PCRs Failed")
    return rows, problems


def table(rows: Sequence[Sequence[str]], header: Sequence[str] | None = None) -> str:
    all_rows = [tuple(header), *rows] if header else [tuple(r) for r in rows]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    return "\n".join(
        ("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))).rstrip()
        for r in all_rows
    )
