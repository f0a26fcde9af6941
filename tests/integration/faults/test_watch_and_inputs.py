"""Mid-burst faults that arrive as data rather than as dead processes: the controller's watches
expire (410 Gone) and it must relist; its CA pool (the mounted Secret's file) turns corrupt and
is fixed; and a ValidatingAdmissionPolicy nobody told it about rejects some status writes with
422 for a while. Every PCR is Issued exactly once and none Denied or Failed; rejected writes are
recorded and backed off (counted in the audit log: no hot loop)."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from meshtool.kube import resources
from meshtool.runtime import ratelimit

from .faultbed import BURST, NAMESPACE, Bed, until

pytestmark = pytest.mark.timeout(900)
FAULT_SECONDS = 15.0
VAP = resources.Resource("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", False)
BINDINGS = resources.Resource(
    "admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", False
)
REJECT_LABEL = "meshtool.test/frozen"


async def test_watch_expiry_mid_burst_relists(bed: Bed):
    (replica,) = await bed.start_replicas(1, proxied=True)
    burst = await bed.burst("gone")
    await burst.until_issued(BURST // 5)
    with bed.proxy.fault("reset"):  # the controller's watches break and cannot resume yet
        poked = await bed.admin.patch(  # history moves on past every controller watch
            burst.recorder.resource,
            "gone-0",
            {"metadata": {"labels": {"meshtool.test/poke": "1"}}},
            namespace=NAMESPACE,
        )
        revision = int(poked["metadata"]["resourceVersion"])
        await until(lambda: int(burst.recorder.resource_version) >= revision, 60, "recorder")
        await bed.plane.compact(revision)  # the controller's last resourceVersions are gone
    healed = time.monotonic()
    await until(lambda: "expired; relisting" in replica.log(), 120, "a relist after 410")
    row = await burst.finish(healed, fault="watch expiry (410) after a reset + compaction")
    assert row.back < 60, row


async def test_corrupt_ca_pool_holds_requests_until_fixed(bed: Bed):
    (first,) = await bed.start_replicas(1)
    good = bed.pool.read_bytes()
    burst = await bed.burst("pool")
    await burst.until_issued(BURST // 5)
    bed.pool.write_text('{"CAs": [{"ID": "1", "SigningKeyPKCS8": "not base64!"')
    red = lambda: first.get("/readyz")[0] == 503  # noqa: E731
    await until(red, 60, "/readyz to report the corrupt pool", blocking=True)
    first.kill()  # a restart while the Secret is corrupt: no usable pool at all now
    second = bed._replica(1, 1, False)
    held = lambda: second.metric_sum("meshtool_held_total", reason="CANotUsable") > 0  # noqa: E731
    await until(held, 120, "requests held for the missing pool", blocking=True)
    held_from = time.monotonic()
    await asyncio.sleep(FAULT_SECONDS)  # the corruption lasts: nothing may be issued meanwhile
    fixed = time.monotonic()
    bed.pool.write_bytes(good)
    issued = burst.recorder.issued_times(burst.recorder.seen)
    issued_while_held = [t for t in issued if held_from < t < fixed]
    row = await burst.finish(
        fixed, fault="CA pool corrupt (and a restart), then fixed", audit_complete=False
    )
    assert not issued_while_held, f"{len(issued_while_held)} issued with no usable pool"
    assert row.back < 60, row


def frozen_policy(name: str) -> tuple[dict, dict]:
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["certificates.k8s.io"],
                        "apiVersions": ["*"],
                        "operations": ["UPDATE"],
                        "resources": ["podcertificaterequests/status"],
                    }
                ],
                "objectSelector": {"matchLabels": {REJECT_LABEL: "yes"}},
            },
            "validations": [
                {"expression": "false", "message": "status writes frozen", "reason": "Invalid"}
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }
    return policy, binding


async def test_unforeseen_422_is_recorded_backed_off_and_never_failed(bed: Bed):
    (replica,) = await bed.start_replicas(1)
    burst = await bed.burst("vap", labels=lambda i: {REJECT_LABEL: "yes"} if i % 10 == 0 else {})
    await burst.until_issued(BURST // 10)
    policy, binding = frozen_policy(f"freeze-{bed.app}")
    await bed.admin.create(VAP, policy)
    await bed.admin.create(BINDINGS, binding)
    rejected = lambda: any(w.code == 422 for w in burst.audited())  # noqa: E731
    await until(rejected, 60, "the policy to reject a status write", blocking=True)
    began = time.monotonic()
    await asyncio.sleep(FAULT_SECONDS)  # the policy stays this long
    await bed.admin.delete(BINDINGS, binding["metadata"]["name"])
    await bed.admin.delete(VAP, policy["metadata"]["name"])
    lifted = time.monotonic()
    errors_seen = replica.metric_sum("meshtool_api_errors_total", operation="status", code="422")
    row = await burst.finish(lifted, fault=f"422 from an admission policy, {FAULT_SECONDS:.0f}s")
    attempts = [w for w in burst.audited() if w.code == 422]
    per_pcr: dict[str, int] = {}
    for w in attempts:
        per_pcr[w.name] = per_pcr.get(w.name, 0) + 1
    window = lifted - began + 5
    print(
        f"fault-suite: 422: {len(attempts)} rejected attempts on {len(per_pcr)} PCRs in "
        f"{window:.0f}s, at most {max(per_pcr.values())} on one; metric {errors_seen:.0f}"
    )
    assert errors_seen >= 1 and "status writes frozen" in replica.log()
    assert all(int(name.rpartition("-")[2]) % 10 == 0 for name in per_pcr), "unlabelled rejected"
    # No hot loop: each request's retries back off exponentially (5 ms doubling), so in the
    # window one request is tried at most log2(window / 5 ms) + 2 times, and all of them at most
    # that many times each (the global retry bucket only ever spaces them further).
    per_request = math.log2(window / ratelimit.DEFAULT_BASE_DELAY) + 2
    assert max(per_pcr.values()) <= per_request, "one request retried in a hot loop"
    assert len(attempts) <= len(per_pcr) * per_request, "a hot loop of rejected writes"
    assert row.back < 60, row
