"""What RBAC manifests grant a ServiceAccount, and what the apiserver says it may do.

`bound_grants(docs, namespace, name)` reads Roles, ClusterRoles and their bindings from
manifest documents and returns every rule bound to that ServiceAccount with where it applies
(a RoleBinding's namespace, or everywhere). `atoms` flattens rules into single
(namespace, verb, group, resource, name) permissions so two rule lists compare exactly however
they are grouped; `probes` turns grants into the access reviews that must be allowed; and
`allows` is the RBAC matching rule itself (verbs, groups, resources, resourceNames and `*`),
a model the apiserver's answers are checked against.

On the apiserver side, `can` asks one SubjectAccessReview, `can_all` many concurrently, and
`self_rules` reads a SelfSubjectRulesReview as the subject itself. Cluster-scoped resources and
"all namespaces" are namespace "". Non-resource URLs are not modelled here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshtool.api import reviews
from meshtool.kube import resources
from meshtool.kube.client import KubeClient

JSON = dict[str, Any]
Atom = tuple[str, str, str, str, str]
"""(namespace or "" for everywhere, verb, apiGroup, resource[/subresource], resourceName)."""


@dataclass(frozen=True, slots=True)
class Grant:
    rule: Mapping[str, Any]
    namespace: str
    """The RoleBinding's namespace; "" for a ClusterRoleBinding (every namespace and none)."""


@dataclass(frozen=True, slots=True)
class Access:
    verb: str
    group: str
    resource: str
    name: str = ""
    namespace: str = ""
    subresource: str = ""

    def attributes(self) -> JSON:
        return {
            "verb": self.verb,
            "group": self.group,
            "resource": self.resource,
            "subresource": self.subresource,
            "name": self.name,
            "namespace": self.namespace,
        }


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def service_account_groups(namespace: str) -> list[str]:
    return ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]


def bound_grants(docs: Iterable[Mapping[str, Any]], namespace: str, name: str) -> list[Grant]:
    """Every rule bound to ServiceAccount namespace/name by the bindings in `docs`."""
    docs = list(docs)
    roles = {
        (d["kind"], d["metadata"]["name"], d["metadata"].get("namespace", "")): d
        for d in docs
        if _is_role(d)
    }
    grants = []
    for binding in (d for d in docs if d.get("kind") in ("RoleBinding", "ClusterRoleBinding")):
        if not _binds(binding, namespace, name):
            continue
        where = binding["metadata"].get("namespace", "")
        ref = binding["roleRef"]
        role = roles.get((ref["kind"], ref["name"], where if ref["kind"] == "Role" else ""))
        if role is None:
            raise ValueError(f"{binding['kind']} {binding['metadata']['name']}: no {ref['name']}")
        grants += [Grant(rule, where) for rule in role.get("rules") or []]
    return grants


def _is_role(doc: Mapping[str, Any]) -> bool:
    return doc.get("kind") in ("Role", "ClusterRole")


def _binds(binding: Mapping[str, Any], namespace: str, name: str) -> bool:
    return any(
        s.get("kind") == "ServiceAccount"
        and s.get("name") == name
        and s.get("namespace") == namespace
        for s in binding.get("subjects") or []
    )


def atoms(rules: Iterable[Mapping[str, Any]], namespace: str = "") -> set[Atom]:
    """Resource rules (non-resource ones are skipped) as single permissions."""
    return {
        (namespace, verb, group, resource, name)
        for rule in rules
        if rule.get("resources")
        for verb in rule.get("verbs") or []
        for group in rule.get("apiGroups") or []
        for resource in rule["resources"]
        for name in rule.get("resourceNames") or [""]
    }


def grant_atoms(grants: Iterable[Grant]) -> set[Atom]:
    return {a for g in grants for a in atoms([g.rule], g.namespace)}


def probes(grants: Iterable[Grant], namespaces: Sequence[str] = ("",)) -> list[Access]:
    """One access review per permission granted; cluster-wide grants in each of `namespaces`."""
    found = []
    for where, verb, group, resource, name in sorted(grant_atoms(grants)):
        plural, _, sub = resource.partition("/")
        for namespace in [where] if where else namespaces:
            found.append(Access(verb, group, plural, name, namespace, sub))
    return found


def allows(grants: Iterable[Grant], access: Access) -> bool:
    """RBAC's rule matching: does any grant allow `access`?"""
    resource = f"{access.resource}/{access.subresource}" if access.subresource else access.resource
    return any(
        (not g.namespace or g.namespace == access.namespace)
        and _matches(g.rule.get("verbs"), access.verb)
        and _matches(g.rule.get("apiGroups"), access.group)
        and _matches(g.rule.get("resources"), resource)
        and access.name in (g.rule.get("resourceNames") or [access.name])  # literal, no "*"
        for g in grants
    )


def _matches(values: Sequence[str] | None, wanted: str) -> bool:
    return values is not None and ("*" in values or wanted in values)


def access_review(access: Access, user: str, groups: Sequence[str]) -> JSON:
    return reviews.resource_access_review(user, groups, access.attributes())


async def can(kube: KubeClient, access: Access, user: str, groups: Sequence[str]) -> bool:
    status = await kube.review(
        resources.SUBJECT_ACCESS_REVIEWS, access_review(access, user, groups)
    )
    return reviews.allowed(status)


async def can_all(
    kube: KubeClient, accesses: Iterable[Access], user: str, groups: Sequence[str], limit: int = 32
) -> dict[Access, bool]:
    gate = asyncio.Semaphore(limit)

    async def one(access: Access) -> tuple[Access, bool]:
        async with gate:
            return access, await can(kube, access, user, groups)

    return dict(await asyncio.gather(*(one(a) for a in accesses)))


async def service_account_token(
    kube: KubeClient, namespace: str, name: str, seconds: int = 3600
) -> str:
    """A bound token of the ServiceAccount, from its TokenRequest subresource."""
    spec = {"expirationSeconds": seconds}
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    answer = await kube.create(
        resources.SERVICE_ACCOUNTS, body, namespace=namespace, name=name, subresource="token"
    )
    return str(answer["status"]["token"])


async def self_rules(kube: KubeClient, namespace: str) -> set[Atom]:
    """The resource rules the client's own identity has in `namespace`, as the apiserver says."""
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": namespace},
    }
    status = await kube.review(resources.SELF_SUBJECT_RULES_REVIEWS, body)
    if status.get("incomplete"):
        raise AssertionError(f"incomplete rules review: {status.get('evaluationError')}")
    return atoms(status.get("resourceRules") or [])
