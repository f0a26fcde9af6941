"""Are the controller's replicas alive? Their Leases, as `meshtool.sharding` reads them.

Each replica renews a Lease named after its pod in the controller's namespace, labelled with
its application name; a Lease is live while `renewTime + leaseDurationSeconds` is ahead
(`ReplicaLease.live`, the rule sharding splits work by). No live Lease fails: nothing signs.
Expired Leases beside live ones are only named (a replica that went away leaves its Lease until
its pod is collected). Pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from meshtool.doctor import findings
from meshtool.doctor.findings import Finding
from meshtool.doctor.target import Target
from meshtool.sharding.leases import APPLICATION_LABEL, ReplicaLease

CHECK = "lease"


def check(target: Target, leases: Sequence[ReplicaLease], now: dt.datetime) -> Finding:
    subject = f"Leases in {target.namespace} labelled {APPLICATION_LABEL}={target.application}"
    live = sorted(lease.holder or lease.name for lease in leases if lease.live(now))
    expired = sorted(lease.name for lease in leases if not lease.live(now))
    if not live:
        dead = f" ({len(expired)} expired: {', '.join(expired)})" if expired else ""
        hint = (
            f"start the controller with sharding (kubectl -n {target.namespace} get pods; "
            f"kubectl -n {target.namespace} logs deploy/meshtool-controller)"
        )
        return findings.fail(CHECK, subject, f"no live Lease{dead}: no replica is running", hint)
    gone = f"; expired: {', '.join(expired)}" if expired else ""
    return findings.ok(CHECK, subject, f"{len(live)} live replica(s): {', '.join(live)}{gone}")
