"""Findings: one line each, `ok`, `warn` or `fail`, naming the object and what to do.

A `Finding` is a value; the checks return lists of them and never print. `render` gives the
text lines (status, check, object, message and the hint joined into one line) and `as_json`
the machine-readable report. `exit_code` is the command's verdict: 0 when every finding is ok,
1 when any fails, 3 when some warn and none fail (2 stays click's usage error), so scripts can
tell "broken" from "degraded".
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_WARN = 3


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status
    check: str
    """Which check found it: api, rbac, pool, bundle, lease, pending, denials, events."""
    object: str
    """The object it is about, as a person would name it (`Secret ns/name`)."""
    message: str
    hint: str = ""
    """What to do about it; empty for ok findings."""

    def line(self) -> str:
        hint = f"; {self.hint}" if self.hint else ""
        return f"{self.status.value:<4}  {self.check:<8} {self.object}: {self.message}{hint}"

    def as_dict(self) -> dict[str, str]:
        return {
            "status": self.status.value,
            "check": self.check,
            "object": self.object,
            "message": self.message,
            "hint": self.hint,
        }


def ok(check: str, obj: str, message: str) -> Finding:
    return Finding(Status.OK, check, obj, message)


def warn(check: str, obj: str, message: str, hint: str = "") -> Finding:
    return Finding(Status.WARN, check, obj, message, hint)


def fail(check: str, obj: str, message: str, hint: str = "") -> Finding:
    return Finding(Status.FAIL, check, obj, message, hint)


def exit_code(found: Iterable[Finding]) -> int:
    statuses = {f.status for f in found}
    if Status.FAIL in statuses:
        return EXIT_FAIL
    return EXIT_WARN if Status.WARN in statuses else EXIT_OK


def summary(found: Sequence[Finding]) -> str:
    counts = {s: sum(1 for f in found if f.status is s) for s in Status}
    return f"{counts[Status.OK]} ok, {counts[Status.WARN]} warn, {counts[Status.FAIL]} fail"


def render(found: Sequence[Finding]) -> list[str]:
    return [f.line() for f in found]


def as_json(found: Sequence[Finding], *, cluster: str) -> str:
    report = {
        "cluster": cluster,
        "exitCode": exit_code(found),
        "summary": summary(found),
        "findings": [f.as_dict() for f in found],
    }
    return json.dumps(report, indent=2)
