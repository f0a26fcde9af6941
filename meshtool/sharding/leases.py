"""Replica Leases on the wire: the pure conversion between Lease objects and `ReplicaLease`.

Each controller replica holds one coordination.k8s.io/v1 Lease in its own namespace, named
after its pod, labelled with the application name, owned by its Pod (so the Lease goes away
with the pod), and renewed by heartbeat. A Lease is live while `renewTime +
leaseDurationSeconds` is in the future. Times on the wire are MicroTime
(`2026-01-01T00:00:00.000000Z`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

APPLICATION_LABEL = "sharding.meshtool.row-major.net/application"

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReplicaLease:
    name: str
    uid: str
    holder: str
    renew_time: dt.datetime | None
    duration_seconds: int
    resource_version: str

    def expires(self) -> dt.datetime | None:
        if self.renew_time is None:
            return None
        return self.renew_time + dt.timedelta(seconds=self.duration_seconds)

    def live(self, now: dt.datetime) -> bool:
        expires = self.expires()
        return expires is not None and expires > now


def micro_time(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def lease_view(obj: JSON) -> ReplicaLease:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    return ReplicaLease(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        holder=str(spec.get("holderIdentity") or ""),
        renew_time=parse_time(spec.get("renewTime")),
        duration_seconds=duration if isinstance(duration, int) else 0,
        resource_version=str(meta.get("resourceVersion", "")),
    )


@dataclass(frozen=True, slots=True)
class Identity:
    """Who this replica is: its pod, and the application whose work it shares."""

    namespace: str
    pod_name: str
    pod_uid: str
    application: str

    @property
    def lease_name(self) -> str:
        return self.pod_name


def lease_body(identity: Identity, *, now: dt.datetime, duration_seconds: int) -> JSON:
    meta: JSON = {
        "name": identity.lease_name,
        "namespace": identity.namespace,
        "labels": {APPLICATION_LABEL: identity.application},
    }
    if identity.pod_uid:
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Pod", "name": identity.pod_name, "uid": identity.pod_uid}
        ]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {
            "holderIdentity": identity.pod_name,
            "leaseDurationSeconds": duration_seconds,
            "acquireTime": micro_time(now),
            "renewTime": micro_time(now),
        },
    }
