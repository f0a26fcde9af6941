"""Replica Leases as sharding sees them: who a replica is, and the Lease it holds.

Each controller replica holds one Lease in its own namespace, named after its pod, labelled
with the application name, owned by its Pod (so the Lease goes away with the pod), and renewed
by heartbeat. The wire format (reading Leases, building the body) is `meshtool.api.leases`';
this module only says which labels and names a replica's Lease carries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meshtool.api import leases as wire_leases
from meshtool.api.leases import ReplicaLease as ReplicaLease
from meshtool.api.leases import lease_view as lease_view

APPLICATION_LABEL = "sharding.meshtool.row-major.net/application"


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

    @property
    def selector(self) -> str:
        """The label selector of every Lease of this application."""
        return f"{APPLICATION_LABEL}={self.application}"


def lease_body(
    identity: Identity,
    *,
    now: dt.datetime,
    duration_seconds: int,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return wire_leases.lease_body(
        annotations=annotations,
        name=identity.lease_name,
        namespace=identity.namespace,
        labels={APPLICATION_LABEL: identity.application},
        owner_pod_uid=identity.pod_uid,
        now=now,
        duration_seconds=duration_seconds,
    )
