"""The manifests are what a user applies: the real kubectl accepts them on the real apiserver
(server-side dry run, then for real), and the controller's ServiceAccount can do exactly what
the controller needs, and not more."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.all_versions

REPO = Path(__file__).resolve().parents[2]
SA = "system:serviceaccount:mesh-controller:meshtool-controller"
FTD_GROUP = "meshtool.row-major.net"
SIGNERS = ["row-major.net/service-dns", "row-major.net/spiffe", "row-major.net/pod-identity"]


def namespaces_of(folder: Path) -> list[str]:
    names = []
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Namespace":
                names.append(doc["metadata"]["name"])
    return names


@pytest.mark.parametrize(
    ("folder", "how"), [("controller-manifests", "-k"), ("example-manifests", "-f")]
)
def test_manifests_pass_server_dry_run_then_apply(kubectl, folder, how):
    path = REPO / folder
    # A server-side dry run cannot create the Namespaces its other objects live in.
    for namespace in namespaces_of(path):
        kubectl("create", "namespace", namespace, check=False)
    dry = kubectl("apply", "--dry-run=server", how, str(path))
    assert "(server dry run)" in dry.stdout
    applied = kubectl("apply", how, str(path))
    assert applied.returncode == 0
    listed = kubectl("get", how, str(path), "-o", "name")
    assert len(listed.stdout.split()) >= len(dry.stdout.splitlines())


def test_controller_manifests_are_a_kustomize_base_not_a_plain_folder(kubectl):
    """`apply -f` on a folder with a kustomization.yaml fails: everything uses `-k`."""
    plain = kubectl(
        "apply", "--dry-run=client", "-f", str(REPO / "controller-manifests"), check=False
    )
    assert plain.returncode != 0
    assert "Kustomization" in plain.stderr


NEEDED = [
    ("sign", "certificates.k8s.io", "signers", SIGNERS[0], None, ""),
    ("sign", "certificates.k8s.io", "signers", SIGNERS[1], None, ""),
    ("sign", "certificates.k8s.io", "signers", SIGNERS[2], None, ""),
    ("attest", "certificates.k8s.io", "signers", SIGNERS[1], None, ""),
    ("list", "certificates.k8s.io", "podcertificaterequests", "", None, ""),
    ("watch", "certificates.k8s.io", "podcertificaterequests", "", None, ""),
    ("update", "certificates.k8s.io", "podcertificaterequests", "", "ns1", "status"),
    ("create", "certificates.k8s.io", "clustertrustbundles", "", None, ""),
    ("update", "certificates.k8s.io", "clustertrustbundles", "x", None, ""),
    ("delete", "certificates.k8s.io", "clustertrustbundles", "x", None, ""),
    ("watch", "", "pods", "", None, ""),
    ("list", "", "services", "", None, ""),
    ("watch", "", "serviceaccounts", "", None, ""),
    ("list", "", "nodes", "", None, ""),
    ("create", "events.k8s.io", "events", "", "default", ""),
    ("create", "coordination.k8s.io", "leases", "", "mesh-controller", ""),
    ("update", "coordination.k8s.io", "leases", "r-0", "mesh-controller", ""),
    ("get", "", "secrets", "spiffe-ca-pool", "mesh-controller", ""),
    ("update", "", "secrets", "spiffe-ca-pool", "mesh-controller", ""),
    ("list", FTD_GROUP, "federatedtrustdomains", "", None, ""),
    ("watch", FTD_GROUP, "federatedtrustdomains", "", None, ""),
    ("patch", FTD_GROUP, "federatedtrustdomains", "peer", None, "status"),
    ("update", FTD_GROUP, "federatedtrustdomains", "peer", None, "status"),
]
DENIED = [
    ("list", "", "secrets", "", "mesh-controller", ""),
    ("list", "", "secrets", "", None, ""),
    ("get", "", "secrets", "some-other-secret", "mesh-controller", ""),
    ("update", "", "secrets", "some-other-secret", "mesh-controller", ""),
    ("create", "", "secrets", "", "mesh-controller", ""),
    ("delete", "", "secrets", "spiffe-ca-pool", "mesh-controller", ""),
    ("sign", "certificates.k8s.io", "signers", "example.com/other", None, ""),
    ("sign", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client", None, ""),
    ("attest", "certificates.k8s.io", "signers", "row-major.net/*", None, ""),
    ("create", "coordination.k8s.io", "leases", "", "kube-system", ""),
    ("update", "", "pods", "p", "default", ""),
    ("update", "certificates.k8s.io", "podcertificaterequests", "", "ns1", ""),
    ("update", FTD_GROUP, "federatedtrustdomains", "peer", None, ""),
    ("create", FTD_GROUP, "federatedtrustdomains", "", None, ""),
    ("delete", FTD_GROUP, "federatedtrustdomains", "peer", None, ""),
]


def can_i(kubectl, verb, group, resource, name, namespace, subresource) -> bool:
    """Ask the apiserver with a SubjectAccessReview, created with kubectl (like
    `kubectl auth can-i`, which cannot name the non-discoverable `signers` resource)."""
    attributes = {
        "verb": verb,
        "group": group,
        "resource": resource,
        "name": name,
        "namespace": namespace or "",
        "subresource": subresource,
    }
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": SA,
            "groups": [
                "system:serviceaccounts",
                "system:serviceaccounts:mesh-controller",
                "system:authenticated",
            ],
            "resourceAttributes": attributes,
        },
    }
    done = kubectl(
        "create", "-f", "-", "-o", "jsonpath={.status.allowed}", input=json.dumps(review)
    )
    return done.stdout.strip() == "true"


def test_controller_service_account_has_exactly_what_it_needs(kubectl):
    kubectl("apply", "-k", str(REPO / "controller-manifests"))
    missing = [n for n in NEEDED if not can_i(kubectl, *n)]
    assert missing == []
    excess = [d for d in DENIED if can_i(kubectl, *d)]
    assert excess == []


def test_kubectl_auth_can_i_agrees_for_ordinary_resources(kubectl):
    kubectl("apply", "-k", str(REPO / "controller-manifests"))
    ask = lambda *a: kubectl("auth", "can-i", *a, f"--as={SA}", check=False).stdout.strip()  # noqa: E731
    assert (
        ask("update", "podcertificaterequests.certificates.k8s.io", "--subresource=status", "-A")
        == "yes"
    )
    assert ask("get", "secrets/spiffe-ca-pool", "-n", "mesh-controller") == "yes"
    assert ask("list", "secrets", "-n", "mesh-controller") == "no"
    assert ask("list", "secrets", "-A") == "no"
