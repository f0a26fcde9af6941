"""The README's quickstart on a real node: controller, CA pools, examples, issued certificates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshtool.testing.node import cluster

pytestmark = [pytest.mark.node, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_NAMESPACES = ("service-dns-unauth-client", "service-dns-spiffe-client", "spiffe-mtls")
SIGNERS = ("service-dns", "spiffe", "pod-identity")


class Kubectl:
    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.binary = str(cluster.Paths(cluster.cluster_dir()).bin("kubectl"))

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            [self.binary, f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))


@pytest.fixture(scope="module")
def kubectl() -> Iterator[Kubectl]:
    python = [sys.executable, "-m", "meshtool.testing.node"]
    subprocess.run([*python, "down"], check=False)  # leftovers of an interrupted run
    before = cluster.host_snapshot()
    up = subprocess.run([*python, "up"], check=False)
    try:
        assert up.returncode == 0, "cluster up failed (logs: see its output)"
        yield Kubectl(cluster.Paths(cluster.cluster_dir()).admin)
    finally:
        if os.environ.get("MESHTOOL_NODE_KEEP") != "1":
            subprocess.run([*python, "down"], check=True)
            after = cluster.host_snapshot()
            assert after == before, "cluster-down left something behind"


def wait_for(what: str, check: Any, timeout: float = 300.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(2)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})")


def running_ready(pods: dict[str, Any]) -> list[str]:
    names = []
    for pod in pods["items"]:
        statuses = pod["status"].get("containerStatuses") or []
        if (
            pod["status"].get("phase") == "Running"
            and statuses
            and all(s["ready"] for s in statuses)
        ):
            names.append(pod["metadata"]["name"])
    return names


def test_quickstart_on_a_real_node(kubectl: Kubectl) -> None:
    node = kubectl.json("get", "node", cluster.NODE)
    assert node["status"]["nodeInfo"]["kubeletVersion"] == cluster.K8S_VERSION

    kubectl("apply", "-f", str(ROOT / "controller-manifests"))
    env = {**os.environ, "KUBECONFIG": str(kubectl.kubeconfig)}
    for signer in SIGNERS:
        subprocess.run(
            [sys.executable, "-m", "meshtool", "make-ca-pool-secret", "--namespace",
             "mesh-controller", "--name", f"{signer}-ca-pool", "--ca-id", "1"],
            env=env, check=True,
        )  # fmt: skip
    kubectl("apply", "-f", str(ROOT / "example-manifests"))

    controllers = wait_for(
        "two controller replicas Running and Ready",
        lambda: (
            len(ready := running_ready(kubectl.json("-n", "mesh-controller", "get", "pods"))) == 2
            and ready
        ),
    )
    assert len(controllers) == 2
    for namespace in EXAMPLE_NAMESPACES:
        wait_for(
            f"server and client Running and Ready in {namespace}",
            lambda ns=namespace: len(running_ready(kubectl.json("-n", ns, "get", "pods"))) == 2,
        )

    # Every example pod that mounts a podCertificate volume got its certificate from a PCR the
    # real kubelet created and meshtool issued (the unauthenticated client has none).
    pcrs = kubectl.json("get", "podcertificaterequests", "-A")["items"]
    issued = {
        (p["metadata"]["namespace"], p["spec"]["podName"], p["spec"]["signerName"])
        for p in pcrs
        if p.get("status", {}).get("certificateChain")
    }
    wanted = set()
    for namespace in EXAMPLE_NAMESPACES:
        for pod in kubectl.json("-n", namespace, "get", "pods")["items"]:
            for volume in pod["spec"].get("volumes") or []:
                for source in (volume.get("projected") or {}).get("sources") or []:
                    if "podCertificate" in source:
                        signer = source["podCertificate"]["signerName"]
                        wanted.add((namespace, pod["metadata"]["name"], signer))
    assert len(wanted) >= len(EXAMPLE_NAMESPACES) + 1
    assert wanted <= issued, f"not issued: {sorted(wanted - issued)}"
