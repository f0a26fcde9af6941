"""The doctor's pure checks, fed observed objects directly: APIs served, permissions (and that
they are exactly what controller-manifests/rbac.yaml grants), Leases, pending requests,
denials and Events, and the exit codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from meshtool.api import versions, wire
from meshtool.doctor import apis, findings, permissions, replicas, requests
from meshtool.doctor.findings import Status
from meshtool.doctor.target import Target
from meshtool.sharding.leases import ReplicaLease

ROOT = Path(__file__).resolve().parents[3]
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TARGET = Target()


def test_apis_served_and_not():
    served = {
        "v1": {"podcertificaterequests"},
        "v1beta1": {"podcertificaterequests", "clustertrustbundles"},
    }
    pcr, ctb = apis.check(served)
    assert pcr.status is Status.OK and pcr.message == "served in v1, v1beta1; meshtool uses v1"
    assert ctb.status is Status.OK and ctb.message.endswith("meshtool uses v1beta1")
    pcr, ctb = apis.check({"v1alpha1": {"clustertrustbundles"}})
    assert pcr.status is Status.FAIL
    assert pcr.message == versions.not_served_message(versions.PODCERTIFICATEREQUESTS)
    assert "--runtime-config=certificates.k8s.io/v1beta1/podcertificaterequests=true" in pcr.line()
    assert ctb.status is Status.OK


def _granted(doc_rules, namespace: str) -> set[permissions.Permission]:
    granted = set()
    for rule in doc_rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                plural, _, sub = resource.partition("/")
                for name in rule.get("resourceNames", [""]):
                    for verb in rule["verbs"]:
                        granted.add(
                            permissions.Permission(verb, group, plural, sub, name, namespace)
                        )
    return granted


def test_needed_permissions_are_what_the_manifests_grant():
    docs = list(yaml.safe_load_all((ROOT / "controller-manifests" / "rbac.yaml").read_text()))
    granted: set[permissions.Permission] = set()
    for doc in docs:
        if doc["kind"] == "ClusterRole":
            granted |= _granted(doc["rules"], "")
        elif doc["kind"] == "Role":
            granted |= _granted(doc["rules"], doc["metadata"]["namespace"])
    wanted = permissions.needed(TARGET)
    assert len(wanted) == len(set(wanted)) == 49
    assert set(wanted) == granted


def test_permissions_follow_the_signer_domain_and_signers():
    target = Target(
        signer_domain="example.org", signers=("spiffe",), pool_secrets={"spiffe": ("pki", "p")}
    )
    wanted = permissions.needed(target)
    signers = {p.name for p in wanted if p.resource == "signers"}
    assert signers == {"example.org/spiffe"}
    secrets = {(p.namespace, p.name, p.verb) for p in wanted if p.resource == "secrets"}
    assert secrets == {("pki", "p", "get"), ("pki", "p", "update")}


def test_review_body_asks_as_the_service_account():
    perm = permissions.Permission(
        "update", "", "secrets", name="spiffe-ca-pool", namespace="mesh-controller"
    )
    spec = permissions.review_body(TARGET, perm)["spec"]
    assert spec["user"] == "system:serviceaccount:mesh-controller:meshtool-controller"
    assert "system:serviceaccounts:mesh-controller" in spec["groups"]
    assert spec["resourceAttributes"] == {
        "verb": "update", "resource": "secrets", "name": "spiffe-ca-pool",
        "namespace": "mesh-controller",
    }  # fmt: skip


def test_permission_findings():
    wanted = permissions.needed(TARGET)
    [ok] = permissions.check(TARGET, dict.fromkeys(wanted, True))
    assert ok.status is Status.OK and "all 49" in ok.message
    allowed = dict.fromkeys(wanted, True)
    status_update = permissions.Permission(
        "update", "certificates.k8s.io", "podcertificaterequests", "status"
    )
    allowed[status_update] = False
    lease = next(p for p in wanted if p.resource == "leases" and p.verb == "create")
    del allowed[lease]  # no answer counts as refused
    first, second = permissions.check(TARGET, allowed)
    assert first.status is Status.FAIL
    assert (
        first.message
        == "may not update certificates.k8s.io podcertificaterequests/status (cluster-wide)"
    )
    assert "ClusterRole" in first.hint
    assert (
        second.message == "may not create coordination.k8s.io leases in namespace mesh-controller"
    )
    assert "Role bound to it in namespace mesh-controller" in second.hint


def lease(name: str, renewed_ago: float) -> ReplicaLease:
    return ReplicaLease(name, "uid", name, NOW - dt.timedelta(seconds=renewed_ago), 15, "1")


def test_leases():
    assert replicas.check(TARGET, [lease("a", 3), lease("b", 60)], NOW).message == (
        "1 live replica(s): a; expired: b"
    )
    dead = replicas.check(TARGET, [lease("b", 15)], NOW)  # renewTime + duration == now: expired
    assert dead.status is Status.FAIL and dead.message.startswith("no live Lease (1 expired: b)")
    assert replicas.check(TARGET, [], NOW).status is Status.FAIL


def pcr(name: str, age: float, condition: tuple[str, str, float] | None = None) -> dict:
    obj: dict = {
        "metadata": {
            "namespace": "ns",
            "name": name,
            "creationTimestamp": wire.format_time(NOW - dt.timedelta(seconds=age)),
        },
        "spec": {"signerName": "row-major.net/spiffe"},
    }
    if condition is not None:
        kind, reason, ago = condition
        when = wire.format_time(NOW - dt.timedelta(seconds=ago))
        obj["status"] = {
            "conditions": [
                {
                    "type": kind,
                    "status": "True",
                    "reason": reason,
                    "message": f"{name} said no",
                    "lastTransitionTime": when,
                }
            ]
        }
    return obj


def test_pending_thresholds():
    issued = pcr("done", 9999, ("Issued", "Issued", 9000))
    assert requests.pending_check(TARGET, "spiffe", [issued], NOW).message == "none pending"
    fresh = requests.pending_check(TARGET, "spiffe", [pcr("a", 5), issued], NOW)
    assert fresh.status is Status.OK and fresh.message == "1 pending, the oldest ns/a for 5s"
    warm = requests.pending_check(TARGET, "spiffe", [pcr("a", 5), pcr("b", 120)], NOW)
    assert warm.status is Status.WARN and warm.message == "2 pending, the oldest ns/b for 2m"
    old = requests.pending_check(TARGET, "spiffe", [pcr("c", 600)], NOW)
    assert old.status is Status.FAIL and "ns/c for 10m" in old.message


def test_denials_grouped_by_reason_within_the_window():
    objs = [
        pcr("a", 100, ("Denied", "ForbiddenByPolicy", 90)),
        pcr("b", 100, ("Denied", "ForbiddenByPolicy", 30)),
        pcr("c", 100, ("Failed", "CAUnavailable", 10)),
        pcr("old", 9000, ("Denied", "Expired", 7200)),
    ]
    denied, failed = requests.denial_check(TARGET, "spiffe", objs, NOW)
    assert denied.status is Status.WARN
    assert denied.message == "2 Denied (ForbiddenByPolicy) in the last 1h, latest ns/b: b said no"
    assert failed.status is Status.FAIL and failed.message.startswith("1 Failed (CAUnavailable)")
    [quiet] = requests.denial_check(TARGET, "spiffe", objs[3:], NOW)
    assert quiet.status is Status.OK and quiet.message == "no denials in the last 1h"


def event(
    reason: str, ago: float, *, controller: str = "meshtool.row-major.net/controller"
) -> dict:
    return {
        "type": "Warning",
        "reason": reason,
        "note": "held: no Service selects the pod",
        "reportingController": controller,
        "eventTime": wire.format_micro_time(NOW - dt.timedelta(seconds=ago)),
        "regarding": {"kind": "PodCertificateRequest", "namespace": "ns", "name": "r"},
    }


def test_events_of_our_controller_only_and_not_known_reasons():
    seen = [
        event("Held", 10),
        event("Held", 20),
        event("Old", 7200),
        event("Theirs", 1, controller="x"),
        event("Denied", 1),
    ]
    [held] = requests.events_check(seen, NOW, window=dt.timedelta(hours=1), known={"Denied"})
    assert held.status is Status.WARN and held.object == "Warning Events Held"
    latest = "latest on PodCertificateRequest ns/r: held: no Service selects the pod"
    assert held.message == f"2 in the last 1h, {latest}"


def test_exit_codes_and_lines():
    ok = findings.ok("api", "X", "fine")
    warned = findings.warn("pool", "Secret a/b", "expiring", "rotate")
    failed = findings.fail("lease", "Leases", "none")
    assert findings.exit_code([ok]) == 0
    assert findings.exit_code([ok, warned]) == 3
    assert findings.exit_code([warned, failed]) == 1
    assert warned.line() == "warn  pool     Secret a/b: expiring; rotate"
    assert findings.summary([ok, warned, failed]) == "1 ok, 1 warn, 1 fail"


def test_events_about_our_requests_and_our_namespace_only():
    ours = event("Held", 10)
    other_pcr = event("Held", 10) | {
        "regarding": {"kind": "PodCertificateRequest", "namespace": "ns", "name": "theirs"}
    }
    our_pod = event("CARotationStuck", 10) | {
        "regarding": {"kind": "Pod", "namespace": "mesh-controller", "name": "replica-0"}
    }
    their_pod = event("CARotationStuck", 10) | {
        "regarding": {"kind": "Pod", "namespace": "elsewhere", "name": "replica-0"}
    }
    pcrs = {"row-major.net/spiffe": [{"metadata": {"namespace": "ns", "name": "r"}}]}
    events = [ours, other_pcr, our_pod, their_pod]
    assert requests.events_about(events, pcrs, "mesh-controller") == [ours, our_pod]
