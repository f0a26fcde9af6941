"""The controller's effective permissions are exactly what controller-manifests/ grants.

The rules are read from the manifest files (so a rule added by any change is covered at once)
and every granted verb/resource/resourceName is asked of the apiserver with a
SubjectAccessReview; a grid of neighbours must be answered exactly as RBAC's matching of those
rules predicts; the apiserver's own SelfSubjectRulesReview for the ServiceAccount, minus what
any authenticated ServiceAccount has, equals the manifests' rules; and a controller running
with the ServiceAccount's real token issues, publishes bundles, holds its Lease and rotates
its CA pool Secret with no request refused."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from meshtool.kube import resources
from meshtool.localdemo import manifests
from meshtool.testing import fleet, rbac

from . import rotationkit, test_ca_rotation
from .conftest import REPO, ctb_source, eventually, make_pod, signer_name

pytestmark = pytest.mark.all_versions
pool_secret = test_ca_rotation.pool_secret  # the fixture, with this module's kubeconfig

NS, SA = "mesh-controller", "meshtool-controller"
USER, GROUPS = rbac.service_account_user(NS, SA), rbac.service_account_groups(NS)
# The kustomize base's files, as its kustomization.yaml lists them.
MANIFESTS = manifests.manifest_files(REPO / "controller-manifests")
OPTIONAL = REPO / "controller-manifests" / "optional" / "metrics-auth-rbac.yaml"
CERTS = "certificates.k8s.io"
OURS = [signer_name(s) for s in ("service-dns", "spiffe", "pod-identity")]
POOLS = ["service-dns-ca-pool", "spiffe-ca-pool", "pod-identity-ca-pool"]

A = rbac.Access
DANGEROUS = [
    A("get", "", "secrets", "some-other-secret", NS),
    A("update", "", "secrets", "some-other-secret", NS),
    A("list", "", "secrets", "", NS),
    A("watch", "", "secrets", "", NS),
    A("list", "", "secrets"),
    A("watch", "", "secrets"),
    A("get", "", "secrets", "spiffe-ca-pool", "default"),
    A("get", "", "secrets", "spiffe-ca-pool"),
    A("create", "", "secrets", "", NS),
    A("delete", "", "secrets", "spiffe-ca-pool", NS),
    A("patch", "", "secrets", "spiffe-ca-pool", NS),
    A("create", "", "pods", "", "default"),
    A("create", "", "pods", "", NS),
    A("update", "", "pods", "p", "default"),
    A("delete", "", "pods", "p", "default"),
    A("create", "", "serviceaccounts", "x", NS, "token"),
    A("delete", CERTS, "podcertificaterequests", "r", "default"),
    A("create", CERTS, "podcertificaterequests", "", "default"),
    A("update", CERTS, "podcertificaterequests", "r", "default"),
    A("patch", CERTS, "podcertificaterequests", "r", "default", "status"),
    A("sign", CERTS, "signers", "example.com/other"),
    A("sign", CERTS, "signers", "kubernetes.io/kube-apiserver-client"),
    A("sign", CERTS, "signers", "row-major.net/*"),
    A("attest", CERTS, "signers", "example.com/other"),
    A("approve", CERTS, "signers", OURS[1]),
    A("update", CERTS, "certificatesigningrequests", "c", "", "status"),
    A("create", "coordination.k8s.io", "leases", "", "kube-system"),
    A("update", "coordination.k8s.io", "leases", "kube-controller-manager", "kube-system"),
    A("escalate", "rbac.authorization.k8s.io", "clusterroles", "meshtool-controller"),
    A("bind", "rbac.authorization.k8s.io", "clusterroles", "cluster-admin"),
    A("update", "rbac.authorization.k8s.io", "roles", "meshtool-controller", NS),
    A("impersonate", "", "serviceaccounts", "default", "default"),
    A("create", "authentication.k8s.io", "tokenreviews"),
    A("create", "authorization.k8s.io", "subjectaccessreviews"),
]
GRID_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
GRID_RESOURCES = [
    ("", "secrets"),
    ("", "pods"),
    ("", "services"),
    ("", "serviceaccounts"),
    ("", "nodes"),
    ("", "configmaps"),
    ("", "events"),
    ("events.k8s.io", "events"),
    ("coordination.k8s.io", "leases"),
    (CERTS, "podcertificaterequests"),
    (CERTS, "clustertrustbundles"),
    (CERTS, "certificatesigningrequests"),
]


def documents(*paths: Path) -> list[dict]:
    return [d for p in paths for d in yaml.safe_load_all(p.read_text()) if isinstance(d, dict)]


def apply_files(kubectl, *paths: Path) -> None:
    for path in paths:  # file by file: the folder may become a kustomize base
        kubectl("apply", "-f", str(path))


@pytest.fixture
def grants(kubectl) -> list[rbac.Grant]:
    apply_files(kubectl, *MANIFESTS)
    found = rbac.bound_grants(documents(*MANIFESTS), NS, SA)
    assert {g.namespace for g in found} == {"", NS}, "a cluster and a namespace binding"
    return found


@pytest.fixture
def metrics_auth_rbac(kubectl):
    apply_files(kubectl, OPTIONAL)
    yield rbac.bound_grants(documents(*MANIFESTS, OPTIONAL), NS, SA)
    kubectl("delete", "-f", str(OPTIONAL), "--ignore-not-found")


def grid() -> list[rbac.Access]:
    """Every verb on every resource, by name or not, in our namespace, another and none."""
    product = itertools.product(GRID_VERBS, GRID_RESOURCES, ["", "x"], ["", "d", NS])
    accesses = [A(verb, group, plural, name, ns) for verb, (group, plural), name, ns in product]
    accesses += [A(v, "", "secrets", POOLS[0], ns) for v in GRID_VERBS for ns in ("", "d", NS)]
    accesses += [A(v, CERTS, "podcertificaterequests", "r", "d", "status") for v in GRID_VERBS]
    accesses += [A(v, "", "pods", "p", "d", "status") for v in GRID_VERBS]
    signers = [*OURS, "x/y", "row-major.net/*"]
    return accesses + [
        A(v, CERTS, "signers", n) for v in ("sign", "attest", "approve") for n in signers
    ]


async def test_every_granted_permission_is_allowed(kube, grants):
    probes = rbac.probes(grants, namespaces=("", "default", NS))
    answers = await rbac.can_all(kube, probes, USER, GROUPS)
    assert [p for p, ok in answers.items() if not ok] == []
    granted = {(p.verb, p.resource, p.name) for p in probes}
    for signer in OURS:  # what the controller needs, whatever the manifests say
        assert {("sign", "signers", signer), ("attest", "signers", signer)} <= granted
    assert {("get", "secrets", p) for p in POOLS} | {("update", "secrets", p) for p in POOLS} <= (
        granted
    )
    print(f"permissions: {len(probes)} granted probes allowed")


async def test_dangerous_neighbours_are_denied(kube, grants):
    assert [d for d in DANGEROUS if rbac.allows(grants, d)] == []
    answers = await rbac.can_all(kube, DANGEROUS, USER, GROUPS)
    assert [d for d, ok in answers.items() if ok] == []
    print(f"permissions: {len(DANGEROUS)} dangerous neighbours denied")


async def test_apiserver_answers_exactly_as_the_manifest_rules_predict(kube, grants):
    probes = grid()
    answers = await rbac.can_all(kube, probes, USER, GROUPS)
    wrong = [(p, ok) for p, ok in answers.items() if ok != rbac.allows(grants, p)]
    assert wrong == []
    allowed = sum(answers.values())
    print(f"permissions: grid of {len(probes)} reviews, {allowed} allowed, all as predicted")


async def rules_reviews(control_plane, namespace: str) -> tuple[set[rbac.Atom], set[rbac.Atom]]:
    """The SA's own rules review, and a bare SA's in the same namespace (the defaults)."""
    ours = control_plane.client(control_plane.user(USER, GROUPS[:2]))
    bare = control_plane.client(control_plane.user(rbac.service_account_user(NS, "bare"), GROUPS))
    async with ours, bare:
        return await rbac.self_rules(ours, namespace), await rbac.self_rules(bare, namespace)


def expected_rules(grants: list[rbac.Grant], namespace: str) -> set[rbac.Atom]:
    here = [g for g in grants if g.namespace in ("", namespace)]
    return {("", *atom[1:]) for atom in rbac.grant_atoms(here)}


async def test_rules_review_equals_the_manifests(control_plane, grants):
    for namespace in (NS, "default"):
        mine, defaults = await rules_reviews(control_plane, namespace)
        assert mine == defaults | expected_rules(grants, namespace)
        assert mine - defaults, "the manifests grant nothing beyond the defaults"


async def test_optional_metrics_auth_rbac_adds_exactly_the_reviews(
    kube, control_plane, grants, metrics_auth_rbac
):
    mine, defaults = await rules_reviews(control_plane, NS)
    assert mine - defaults - expected_rules(grants, NS) == {
        ("", "create", "authentication.k8s.io", "tokenreviews", ""),
        ("", "create", "authorization.k8s.io", "subjectaccessreviews", ""),
    }
    assert mine == defaults | expected_rules(metrics_auth_rbac, NS)
    reviews = [A("create", "authentication.k8s.io", "tokenreviews")]
    reviews += [A("create", "authorization.k8s.io", "subjectaccessreviews")]
    assert all((await rbac.can_all(kube, reviews, USER, GROUPS)).values())


@pytest.fixture
async def controller_kubeconfig(control_plane, kube, kubectl) -> Path:
    """Overrides conftest's: the controller runs with the ServiceAccount's own bearer token."""
    apply_files(kubectl, *MANIFESTS)
    token = await rbac.service_account_token(kube, NS, SA)
    return control_plane.token_user(SA, token)


async def test_controller_works_with_the_service_account_token(
    kube, namespace, ctb_version, start_controller, start_kubelet, pool_secret
):
    await pool_secret.create(test_ca_rotation.half_used_pool())
    controller = await start_controller(
        *rotationkit.SECRET_FLAG,
        "--ca-rotation-interval", "0.5",
        "--sharding-pod-namespace", NS,
        "--sharding-pod-name", "token-0",
    )  # fmt: skip
    sim = await start_kubelet()
    service = fleet.service_body(namespace, "web", selector={"app": "web"})
    await kube.create(resources.SERVICES, service, namespace=namespace)
    sources = [
        fleet.pod_certificate_source(signer_name(short), path=f"{short}.pem")
        for short in ("service-dns", "spiffe", "pod-identity")
    ]
    sources.append(ctb_source("spiffe", "ca.pem"))
    await make_pod(
        kube, namespace, "web-0", node=sim.node_name, sources=sources, labels={"app": "web"}
    )
    await sim.wait_ready(namespace, "web-0", timeout=90)
    bundles = await kube.list(resources.cluster_trust_bundles(ctb_version))
    assert {b["spec"].get("signerName") for b in bundles.items} >= set(OURS)
    lease_names = [
        lease["metadata"]["name"]
        for lease in (await kube.list(resources.LEASES, namespace=NS)).items
    ]
    assert any("token-0" in name for name in lease_names), lease_names

    async def rotated() -> bool:  # the controller read and replaced the Secret by name
        return any(len(state) == 2 for state in pool_secret.history)

    await eventually(rotated, timeout=30, what="CA rotation to update the pool Secret")
    assert controller.metric_sum("meshtool_issued_total") >= 3
    assert controller.metric_sum("meshtool_api_errors_total", code="401") == 0
    # Refused by RBAC: nothing. (A leftover request of an earlier test in a namespace being
    # deleted gets its Event refused with 403 "being terminated": that is not a permission.)
    refused = [
        line
        for line in controller.log().splitlines()
        if "forbidden" in line.lower()
        and ("WARNING" in line or "ERROR" in line)
        and "being terminated" not in line
    ]
    assert not refused, refused
