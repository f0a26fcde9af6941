"""Requests of our signers: how many are pending and for how long, and why recent ones were
refused.

A request is pending until it carries a terminal condition (`api.request.terminal_of`, the
controller's rule). The oldest pending one's age is judged against `Target.pending_warn` and
`pending_fail`: the controller answers in seconds, so an old pending request means nothing is
signing for that signer. Denied and Failed conditions set within `Target.window` are grouped by
reason, with a count and the latest request's message (Denied warns, Failed fails: a Failed
request is the signer's own trouble). Warning Events our controller posted in the window
(held requests, refused status writes, CA rotation) are grouped the same way, except reasons
the conditions already reported. Pure: the objects are raw API dicts, read leniently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshtool.api import request, wire
from meshtool.controllers.events import REPORTING_CONTROLLER
from meshtool.doctor import findings
from meshtool.doctor.findings import Finding
from meshtool.doctor.target import Target

JSON = Mapping[str, Any]
PENDING, DENIALS, EVENTS = "pending", "denials", "events"


@dataclass(frozen=True, slots=True)
class Refusal:
    """One recent reason: how often it was seen, and the latest occurrence."""

    kind: str
    reason: str
    count: int
    latest: str
    message: str


def pending_check(target: Target, short: str, pcrs: Sequence[JSON], now: dt.datetime) -> Finding:
    subject = f"PodCertificateRequests of {target.signer_name(short)}"
    waiting = [
        (request.created_at(o) or now, _key(o)) for o in pcrs if request.terminal_of(o) is None
    ]
    if not waiting:
        return findings.ok(PENDING, subject, "none pending")
    created, key = min(waiting)
    age = now - created
    text = f"{len(waiting)} pending, the oldest {key} for {_duration(age)}"
    hint = (
        "nothing answers them: check the lease and rbac findings and "
        f"kubectl -n {target.namespace} logs deploy/meshtool-controller"
    )
    if age >= target.pending_fail:
        return findings.fail(PENDING, subject, text, hint)
    if age >= target.pending_warn:
        return findings.warn(PENDING, subject, text, hint)
    return findings.ok(PENDING, subject, text)


def denial_check(
    target: Target, short: str, pcrs: Sequence[JSON], now: dt.datetime
) -> list[Finding]:
    subject = f"PodCertificateRequests of {target.signer_name(short)}"
    refusals = recent_refusals(pcrs, now - target.window)
    if not refusals:
        return [findings.ok(DENIALS, subject, f"no denials in the last {_duration(target.window)}")]
    return [_refusal_finding(subject, r, target.window) for r in refusals]


def _refusal_finding(subject: str, r: Refusal, window: dt.timedelta) -> Finding:
    since = _duration(window)
    text = f"{r.count} {r.kind} ({r.reason}) in the last {since}, latest {r.latest}: {r.message}"
    if r.kind == "Failed":
        return findings.fail(DENIALS, subject, text, "see the controller's log")
    return findings.warn(
        DENIALS,
        subject,
        text,
        f"kubectl describe podcertificaterequest -n {r.latest.partition('/')[0]}",
    )


def events_check(
    events: Sequence[JSON], now: dt.datetime, *, window: dt.timedelta, known: set[str]
) -> list[Finding]:
    """Warning Events of our controller in `window`, except the reasons in `known`."""
    since = now - window
    seen = [
        (when, str(e.get("reason", "")), _regarding(e), str(e.get("note", "")))
        for e in events
        if _ours(e) and (when := _event_time(e)) is not None and when >= since
    ]
    seen = [s for s in seen if s[1] not in known]
    return [
        findings.warn(
            EVENTS,
            f"Warning Events {r.reason}",
            f"{r.count} in the last {_duration(window)}, latest on {r.latest}: {r.message}",
        )
        for r in _group([(w, "Event", reason, obj, note) for w, reason, obj, note in seen])
    ]


def events_about(
    events: Sequence[JSON], pcrs: Mapping[str, Sequence[JSON]], namespace: str
) -> list[JSON]:
    """The Events about this install: about a PodCertificateRequest of our signers, or about
    an object in the controller's namespace (its pods). Another signer domain's controller
    reports as "meshtool" too; its Events are not ours."""
    keys = {_key(o) for requests in pcrs.values() for o in requests}
    return [e for e in events if _about(e, keys, namespace)]


def _about(event: JSON, keys: set[str], namespace: str) -> bool:
    ref = event.get("regarding")
    if not isinstance(ref, Mapping):
        return False
    key = f"{ref.get('namespace', '')}/{ref.get('name', '')}"
    if ref.get("kind") == "PodCertificateRequest":
        return key in keys
    return ref.get("namespace") == namespace


def recent_refusals(pcrs: Sequence[JSON], since: dt.datetime) -> list[Refusal]:
    """Denied and Failed conditions set since `since`, grouped by kind and reason."""
    return _group([c for c in (_refusal(o) for o in pcrs) if c is not None and c[0] >= since])


def _refusal(obj: JSON) -> tuple[dt.datetime, str, str, str, str] | None:
    status = obj.get("status")
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    for c in conditions if isinstance(conditions, list) else []:
        if (
            isinstance(c, Mapping)
            and c.get("status") == "True"
            and c.get("type") in ("Denied", "Failed")
        ):
            when = wire.time_or_none(c.get("lastTransitionTime"))
            if when is not None:
                return (
                    when,
                    str(c["type"]),
                    str(c.get("reason", "")),
                    _key(obj),
                    str(c.get("message", "")),
                )
    return None


def _group(seen: Sequence[tuple[dt.datetime, str, str, str, str]]) -> list[Refusal]:
    by: dict[tuple[str, str], list[tuple[dt.datetime, str, str, str, str]]] = {}
    for item in seen:
        by.setdefault((item[1], item[2]), []).append(item)
    out = []
    for (kind, reason), items in sorted(by.items()):
        _, _, _, latest, message = max(items, key=lambda i: (i[0], i[3]))
        out.append(Refusal(kind, reason, len(items), latest, message))
    return out


def _ours(event: JSON) -> bool:
    return (
        event.get("type") == "Warning" and event.get("reportingController") == REPORTING_CONTROLLER
    )


def _event_time(event: JSON) -> dt.datetime | None:
    series = event.get("series")
    last = series.get("lastObservedTime") if isinstance(series, Mapping) else None
    meta = event.get("metadata")
    created = meta.get("creationTimestamp") if isinstance(meta, Mapping) else None
    return (
        wire.time_or_none(last)
        or wire.time_or_none(event.get("eventTime"))
        or wire.time_or_none(created)
    )


def _regarding(event: JSON) -> str:
    ref = event.get("regarding")
    if not isinstance(ref, Mapping):
        return "(unknown)"
    return f"{ref.get('kind', '')} {ref.get('namespace', '')}/{ref.get('name', '')}".strip()


def _key(obj: JSON) -> str:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size and (seconds % size == 0 or seconds >= 2 * size):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
