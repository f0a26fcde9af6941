"""The whole report from one observation: every check in a fixed order, one finding per line.

Order: APIs served, the ServiceAccount's permissions, then per signer its pool Secret, its
ClusterTrustBundle, its pending requests and its recent denials, then the replicas' Leases and
our Warning Events (except the CA pool ones, which the pool checks judge as they are now,
not as they were when posted). A read that failed becomes a `fail` finding in its check's
place (what could not be checked is not healthy); checks whose API is not served are left
out, since the api finding already says what to enable. Pure: `now` is passed in.
"""

from __future__ import annotations

import datetime as dt

from meshtool.doctor import apis, findings, permissions, pools, replicas, requests
from meshtool.doctor.findings import Finding
from meshtool.doctor.observe import Observed
from meshtool.doctor.target import Target
from meshtool.pki import expiry

POOL_REASONS = {expiry.EXPIRED, expiry.EXPIRING, expiry.STUCK, expiry.UNPUBLISHED}
"""Warning Events about pools: history, where the pool and bundle checks see the present."""


def diagnose(seen: Observed, target: Target, now: dt.datetime) -> list[Finding]:
    found = apis.check(seen.served)
    found += _or_error(seen, "rbac", target.account) or permissions.check(target, seen.allowed)
    for short in target.signers:
        found += _signer(seen, target, short, now)
    found += _or_error(seen, "lease", f"Leases in {target.namespace}") or (
        [replicas.check(target, seen.leases, now)] if seen.leases is not None else []
    )
    found += _events(seen, target, now)
    return found


def _signer(seen: Observed, target: Target, short: str, now: dt.datetime) -> list[Finding]:
    bundles = seen.bundles or []
    found, pool = pools.pool_check(target, short, seen.secrets[short], bundles, now)
    subject = f"ClusterTrustBundles of {target.signer_name(short)}"
    if seen.bundles is not None:
        found.append(pools.bundle_check(target, short, pool, bundles))
    else:
        found += _or_error(seen, "bundle", subject)
    requests_of = f"PodCertificateRequests of {target.signer_name(short)}"
    if seen.pcrs is not None:
        found.append(requests.pending_check(target, short, seen.pcrs[short], now))
        found += requests.denial_check(target, short, seen.pcrs[short], now)
    else:
        found += _or_error(seen, "pending", requests_of)
    return found


def _events(seen: Observed, target: Target, now: dt.datetime) -> list[Finding]:
    if seen.events is None:
        return _or_error(seen, "events", "Events")
    since = now - target.window
    known = {
        r.reason
        for pcrs in (seen.pcrs or {}).values()
        for r in requests.recent_refusals(pcrs, since)
    }
    known |= POOL_REASONS  # the pool checks judge these from the pools as they are now
    mine = requests.events_about(seen.events, seen.pcrs or {}, target.namespace)
    return requests.events_check(mine, now, window=target.window, known=known)


def _or_error(seen: Observed, check: str, subject: str) -> list[Finding]:
    error = seen.errors.get(check)
    return [findings.fail(check, subject, error)] if error else []
