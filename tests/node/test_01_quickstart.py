"""The README's quickstart on a real node: the checks on what `quickstart` applied, verbatim.

Then (and only then) one test-only extra object: a client with a ServiceAccount that is not on
the spiffe-mtls server's allow-list, which the server must refuse.
"""

from __future__ import annotations

import json
import tarfile

import pytest

from meshtool.testing.node import cluster

from .conftest import EXAMPLE_NAMESPACES, SERVER_URLS
from .nodekit import Kubectl, condition_types, pcrs, ready, report, wait_for

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]


def built_image_id() -> str:
    """The config digest of the image hack/node-images.sh built from the Dockerfile."""
    path = cluster.Paths(cluster.cluster_dir()).images / "meshtool.tar"
    with tarfile.open(path) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        manifest = json.loads(member.read())
    return "sha256:" + manifest[0]["Config"].removesuffix(".json")


def test_controller_replicas_run_the_built_image_and_own_their_leases(quickstart: Kubectl) -> None:
    node = quickstart.json("get", "node", cluster.NODE)
    assert node["status"]["nodeInfo"]["kubeletVersion"] == cluster.K8S_VERSION
    pods = quickstart.json("-n", "mesh-controller", "get", "pods")["items"]
    assert len(pods) == 2 and all(ready(p) for p in pods)
    image = built_image_id()
    for pod in pods:
        status = pod["status"]["containerStatuses"][0]
        assert (status["image"], status["imageID"]) == ("docker.io/library/meshtool:latest", image)
    leases = quickstart.json("-n", "mesh-controller", "get", "leases")["items"]
    owners = {
        ref["uid"]: lease["metadata"]["name"]
        for lease in leases
        for ref in lease["metadata"].get("ownerReferences") or []
        if ref["kind"] == "Pod"
    }
    for pod in pods:
        assert owners.get(pod["metadata"]["uid"]) == pod["metadata"]["name"], owners


def test_every_example_pcr_issued_and_every_client_talks_to_its_server(
    quickstart: Kubectl,
) -> None:
    for namespace in EXAMPLE_NAMESPACES:
        pods = quickstart.json("-n", namespace, "get", "pods")["items"]
        assert len(pods) == 2 and all(ready(p) for p in pods), namespace
        requests = pcrs(quickstart, "-n", namespace)
        wanted = sum(podcert_sources(p) for p in pods)
        assert len(requests) >= wanted >= 1
        assert all(condition_types(r) == ["Issued"] for r in requests), requests
        wait_for(
            f"a successful request in {namespace}", lambda ns=namespace: success(quickstart, ns)
        )
    for namespace in ("service-dns-spiffe-client", "spiffe-mtls"):
        ident = f"Client Identity: spiffe://cluster.local/ns/{namespace}/sa/client"
        assert ident in quickstart("-n", namespace, "logs", "deploy/client")
    # The pod-identity server names the client's pod and node from the certificate's extension.
    (client,) = quickstart.json("-n", "pod-identity-client", "get", "pods", "-l", "app=client")[
        "items"
    ]
    ident = (
        "Client Identity: spiffe://cluster.local/ns/pod-identity-client/sa/client; "
        f"pod pod-identity-client/{client['metadata']['name']} on node {client['spec']['nodeName']}"
    )
    assert ident in quickstart("-n", "pod-identity-client", "logs", "deploy/client")
    report("kubectl get pods -A -o wide", quickstart("get", "pods", "-A", "-o", "wide"))
    report("kubectl get pcr -A", quickstart("get", "podcertificaterequests", "-A"))
    report("spiffe-mtls client log", quickstart("-n", "spiffe-mtls", "logs", "deploy/client"))


def podcert_sources(pod: dict[str, object]) -> int:
    volumes = pod["spec"].get("volumes") or []  # type: ignore[attr-defined]
    sources = [s for v in volumes for s in (v.get("projected") or {}).get("sources") or []]
    return sum("podCertificate" in s for s in sources)


def success(kubectl: Kubectl, namespace: str) -> bool:
    url = SERVER_URLS[namespace]
    lines = kubectl("-n", namespace, "logs", "deploy/client").splitlines()
    return any(f"GET {url}" in line and ": 200 " in line for line in lines)


def test_spiffe_mtls_server_refuses_a_client_not_on_its_allow_list(quickstart: Kubectl) -> None:
    manifest = quickstart.json("-n", "spiffe-mtls", "get", "deployment", "client")
    intruder = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "intruder", "namespace": "spiffe-mtls"},
        "spec": manifest["spec"] | {"selector": {"matchLabels": {"app": "intruder"}}},
    }
    template = intruder["spec"]["template"]  # type: ignore[index]
    template["metadata"] = {"labels": {"app": "intruder"}}
    template["spec"]["serviceAccountName"] = "intruder"
    sa = {"apiVersion": "v1", "kind": "ServiceAccount"}
    quickstart.apply(sa | {"metadata": {"name": "intruder", "namespace": "spiffe-mtls"}}, intruder)
    try:
        log = wait_for(
            "the intruder's log shows a refused request",
            lambda: refused(quickstart.run("-n", "spiffe-mtls", "logs", "deploy/intruder").stdout),
            timeout=120,
        )
        report("spiffe-mtls intruder client log (refused)", log)
    finally:
        quickstart("-n", "spiffe-mtls", "delete", "deployment", "intruder", "--wait=true")


def refused(log: str) -> str:
    lines = [line for line in log.splitlines() if "spiffe-echo" in line]
    assert not any(": 200 " in line for line in lines), log
    return (
        log
        if any("401 unauthorized" in line and "not an allowed client" in line for line in lines)
        else ""
    )
