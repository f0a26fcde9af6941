"""Leases on the wire: the pure conversion between coordination.k8s.io/v1 Lease objects and
`ReplicaLease` values, and the body a replica writes for its own Lease.

A Lease is live while `renewTime + leaseDurationSeconds` is in the future. Times on the wire are
MicroTime (`2026-01-01T00:00:00.000000Z`). Reading tolerates odd objects (a missing or garbled
time means "never renewed", so the Lease is not live); what a Lease *means* for sharding is
`meshtool.sharding`'s business.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meshtool.api import wire


@dataclass(frozen=True, slots=True)
class ReplicaLease:
    name: str
    uid: str
    holder: str
    renew_time: dt.datetime | None
    duration_seconds: int
    resource_version: str
    annotations: Mapping[str, str] = field(default_factory=dict)

    def expires(self) -> dt.datetime | None:
        if self.renew_time is None:
            return None
        return self.renew_time + dt.timedelta(seconds=self.duration_seconds)

    def live(self, now: dt.datetime) -> bool:
        expires = self.expires()
        return expires is not None and expires > now


def lease_view(obj: Mapping[str, Any]) -> ReplicaLease:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    return ReplicaLease(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        holder=str(spec.get("holderIdentity") or ""),
        renew_time=wire.time_or_none(spec.get("renewTime")),
        duration_seconds=duration if isinstance(duration, int) else 0,
        resource_version=str(meta.get("resourceVersion", "")),
        annotations={
            str(k): str(v) for k, v in (meta.get("annotations") or {}).items() if isinstance(v, str)
        },
    )


def lease_body(
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    owner_pod_uid: str,
    now: dt.datetime,
    duration_seconds: int,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Lease held by `name`, owned by the Pod of that name when its UID is known."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    if owner_pod_uid:
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": owner_pod_uid}
        ]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": duration_seconds,
            "acquireTime": wire.format_micro_time(now),
            "renewTime": wire.format_micro_time(now),
        },
    }
