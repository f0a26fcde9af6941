"""What the controller may do: every verb on every resource it needs, asked of the apiserver
as the controller's ServiceAccount with SubjectAccessReviews.

`needed` is the list controller-manifests/rbac.yaml grants (a unit test keeps the two equal
for the default target): `sign` and `attest` on each enabled signer name, reading the requests
and the objects decisions rest on, writing request status, managing ClusterTrustBundles and
posting Events cluster-wide; and in the controller's namespace its Leases and `get`/`update`
of each pool Secret by name. `review_body` is one SubjectAccessReview; `check` turns the
answers into findings: one ok line when all are allowed, else one fail line per missing
permission saying where to grant it. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meshtool.api import federation, reviews
from meshtool.doctor import findings
from meshtool.doctor.findings import Finding
from meshtool.doctor.target import Target

CHECK = "rbac"
CERTS = "certificates.k8s.io"
READ = ("get", "list", "watch")
MANAGE = (*READ, "create", "update", "delete")
FEDERATION = federation.GROUP
WRITE_STATUS = ("update", "patch")


@dataclass(frozen=True, slots=True)
class Permission:
    verb: str
    group: str
    resource: str
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    """Empty: cluster-wide (a ClusterRole's business)."""

    def describe(self) -> str:
        group = self.group or "core"
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        named = f' "{self.name}"' if self.name else ""
        where = f" in namespace {self.namespace}" if self.namespace else " (cluster-wide)"
        return f"{self.verb} {group} {resource}{named}{where}"


def needed(target: Target) -> list[Permission]:
    wanted = [
        Permission(verb, CERTS, "signers", name=target.signer_name(short))
        for short in target.signers
        for verb in ("sign", "attest")
    ]
    wanted += [Permission(v, CERTS, "podcertificaterequests") for v in READ]
    wanted.append(Permission("update", CERTS, "podcertificaterequests", "status"))
    wanted += [Permission(v, CERTS, "clustertrustbundles") for v in MANAGE]
    for resource in ("pods", "services", "serviceaccounts", "nodes"):
        wanted += [Permission(v, "", resource) for v in READ]
    for group in ("events.k8s.io", ""):
        wanted += [Permission(v, group, "events") for v in ("create", "patch")]
    wanted += [Permission(v, FEDERATION, "federatedtrustdomains") for v in READ]
    wanted += [Permission(v, FEDERATION, "federatedtrustdomains", "status") for v in WRITE_STATUS]
    ns = target.namespace
    wanted += [Permission(v, "coordination.k8s.io", "leases", namespace=ns) for v in MANAGE]
    for short in target.signers:
        secret_ns, secret = target.pool_secret(short)
        wanted += [
            Permission(v, "", "secrets", name=secret, namespace=secret_ns)
            for v in ("get", "update")
        ]
    return wanted


def review_body(target: Target, permission: Permission) -> dict[str, Any]:
    attributes = {
        "verb": permission.verb,
        "group": permission.group,
        "resource": permission.resource,
        "subresource": permission.subresource,
        "name": permission.name,
        "namespace": permission.namespace,
    }
    groups = [*target.groups, "system:authenticated"]
    return reviews.resource_access_review(target.user, groups, attributes)


def check(target: Target, allowed: Mapping[Permission, bool]) -> list[Finding]:
    """`allowed` answers each needed permission (a missing answer counts as refused)."""
    wanted = needed(target)
    missing = [p for p in wanted if not allowed.get(p, False)]
    if not missing:
        return [findings.ok(CHECK, target.account, f"has all {len(wanted)} permissions it needs")]
    return [
        findings.fail(CHECK, target.account, f"may not {p.describe()}", _hint(target, p))
        for p in missing
    ]


def _hint(target: Target, permission: Permission) -> str:
    if permission.resource == "signers":
        return (
            f'add "{permission.name}" to the signers resourceNames of the ClusterRole bound to '
            "it (controller-manifests/rbac.yaml; a --signer-domain needs it there)"
        )
    if permission.namespace:
        return (
            f"grant it in a Role bound to it in namespace {permission.namespace} "
            "(see controller-manifests/rbac.yaml)"
        )
    return "grant it in the ClusterRole bound to it (see controller-manifests/rbac.yaml)"
