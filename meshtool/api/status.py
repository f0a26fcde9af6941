"""The status a signer writes back to a PodCertificateRequest.

Only terminal decisions have a status body. `Issued` writes the chain, the three times and one
`Issued` condition; `Denied` and `Failed` write exactly one condition and nothing else (the
API server rejects any other field next to them). `NotYet` is never written: the type of
`status_body` excludes it, and it raises TypeError if handed one anyway.

Times are whole-second RFC 3339 UTC (`2026-01-01T00:00:00Z`). The status times must equal the
leaf's validity exactly, so they come from the decision (which took them from the leaf), and
only `lastTransitionTime` comes from the clock.

`status_update` turns a request and a status into the PUT body for `/status`; it names the
request's resourceVersion, so a concurrent writer makes the PUT fail with a conflict instead of
being overwritten. `reference` is the request as an Event's `regarding`.
"""

from __future__ import annotations

from typing import Any, Protocol

from meshtool.api import wire
from meshtool.api.decisions import ISSUED_REASON, Denied, Failed, Issued
from meshtool.clock import Clock

MAX_MESSAGE = wire.MAX_MESSAGE
"""Longer condition messages are cut to this many bytes."""


StatusBody = wire.PCRStatus


def status_body(decision: Issued | Denied | Failed, *, clock: Clock) -> StatusBody:
    now = wire.format_time(clock.now())
    if isinstance(decision, Issued):
        return {
            "conditions": [_condition("Issued", ISSUED_REASON, decision.message, now)],
            "certificateChain": decision.chain_pem,
            "notBefore": wire.format_time(decision.not_before),
            "notAfter": wire.format_time(decision.not_after),
            "beginRefreshAt": wire.format_time(decision.begin_refresh_at),
        }
    if isinstance(decision, Denied):
        return {"conditions": [_condition("Denied", decision.reason, decision.message, now)]}
    if isinstance(decision, Failed):
        return {"conditions": [_condition("Failed", decision.reason, decision.message, now)]}
    raise TypeError(f"{type(decision).__name__} is not terminal and has no status body")


def _condition(kind: wire.ConditionType, reason: str, message: str, now: str) -> wire.Condition:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": _truncate(message),
        "lastTransitionTime": now,
    }


def _truncate(message: str) -> str:
    encoded = message.encode()
    if len(encoded) <= MAX_MESSAGE:
        return message
    return encoded[: MAX_MESSAGE - 3].decode(errors="ignore") + "..."


class Target(Protocol):
    """What a status write needs to know of its request (a `PodCertRequest` or `Unreadable`)."""

    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def uid(self) -> str: ...

    @property
    def resource_version(self) -> str: ...

    @property
    def api_version(self) -> str: ...


def status_update(target: Target, status: StatusBody) -> dict[str, Any]:
    """The body for `PUT .../podcertificaterequests/<name>/status`.

    The status subresource takes only `status` from the body (the server keeps its own spec
    and metadata), so the body carries no spec: just the identity of the object and its
    resourceVersion, which makes a concurrent writer's PUT fail with a conflict instead of
    being overwritten.
    """
    return {
        "apiVersion": target.api_version,
        "kind": wire.PCR_KIND,
        "metadata": {
            "name": target.name,
            "namespace": target.namespace,
            "uid": target.uid,
            "resourceVersion": target.resource_version,
        },
        "status": status,
    }


def reference(target: Target) -> dict[str, Any]:
    """The object reference of an Event about the request."""
    return {
        "apiVersion": target.api_version,
        "kind": wire.PCR_KIND,
        "namespace": target.namespace,
        "name": target.name,
        "uid": target.uid,
    }
