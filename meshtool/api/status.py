"""The status a signer writes back to a PodCertificateRequest.

Only terminal decisions have a status body. `Issued` writes the chain, the three times and one
`Issued` condition; `Denied` and `Failed` write exactly one condition and nothing else (the
API server rejects any other field next to them). `NotYet` is never written: the type of
`status_body` excludes it, and it raises TypeError if handed one anyway.

Times are whole-second RFC 3339 UTC (`2026-01-01T00:00:00Z`). The status times must equal the
leaf's validity exactly, so they come from the decision (which took them from the leaf), and
only `lastTransitionTime` comes from the clock.

`pcr_status_update` turns the cached object plus a status into the PUT body for `/status`. It
keeps `metadata.resourceVersion`, so a concurrent writer makes the PUT fail with a conflict
instead of being overwritten, and never mutates the cached object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meshtool.api import wire
from meshtool.api.decisions import ISSUED_REASON, Denied, Failed, Issued
from meshtool.clock import Clock

MAX_MESSAGE = 32 * 1024
"""metav1.Condition.message limit (bytes); longer messages are cut."""


def status_body(decision: Issued | Denied | Failed, *, clock: Clock) -> wire.PCRStatus:
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


def pcr_status_update(obj: Mapping[str, Any], status: wire.PCRStatus) -> dict[str, Any]:
    """The full body for `PUT .../podcertificaterequests/<name>/status`.

    Everything but `status` is copied from `obj` (shallowly: nested values are shared, never
    changed). `managedFields` is dropped: the server keeps its own when the field is absent.
    """
    metadata = {k: v for k, v in obj.get("metadata", {}).items() if k != "managedFields"}
    return {**obj, "metadata": metadata, "status": status}
