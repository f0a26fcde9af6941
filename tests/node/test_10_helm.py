"""`helm install` of charts/meshtool on the real node, as the README's "Install with Helm" says.

The kustomize install of the quickstart is deleted (`kubectl delete -k controller-manifests`:
namespace, pool Secrets, RBAC); the chart is installed with its defaults into a new namespace;
the pool Secrets are made again with `make-ca-pool-secret`; the examples are applied again (their
old certificates chain to the deleted pools' CAs). Then every example PCR must be Issued by the
Helm-installed controller and every client must reach its server. Last, `helm uninstall`
removes the controller.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from meshtool.testing.binaries import locate_helm

from .conftest import EXAMPLE_NAMESPACES, SIGNERS
from .nodekit import ROOT, Kubectl, condition_types, pcrs, report, running_ready, wait_for
from .test_01_quickstart import success

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

MC = ("-n", "mesh-controller")


def helm(kubectl: Kubectl, *args: str) -> str:
    cmd = [str(locate_helm()), f"--kubeconfig={kubectl.kubeconfig}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, f"helm {' '.join(args)}: {done.stderr}"
    return done.stdout


def make_pools(kubectl: Kubectl) -> None:
    env = {**os.environ, "KUBECONFIG": str(kubectl.kubeconfig)}
    for signer in SIGNERS:
        subprocess.run(
            [sys.executable, "-m", "meshtool", "make-ca-pool-secret", "--namespace",
             "mesh-controller", "--name", f"{signer}-ca-pool", "--ca-id", "1"],
            env=env, check=True,
        )  # fmt: skip


def examples_issued(kubectl: Kubectl) -> bool:
    for namespace in EXAMPLE_NAMESPACES:
        if len(running_ready(kubectl.json("-n", namespace, "get", "pods"))) != 2:
            return False
        requests = pcrs(kubectl, "-n", namespace)
        if not requests or any(condition_types(r) != ["Issued"] for r in requests):
            return False
    return True


def test_helm_install_issues_the_examples_certificates(quickstart: Kubectl) -> None:
    examples = str(ROOT / "example-manifests/")
    quickstart("delete", "-f", examples, "--wait=true", "--timeout=480s", timeout=540)
    quickstart("delete", "-k", str(ROOT / "controller-manifests"), "--wait=true", timeout=540)
    installed = helm(
        quickstart, "install", "meshtool", str(ROOT / "charts/meshtool"),
        "--namespace", "mesh-controller", "--create-namespace",
    )  # fmt: skip
    make_pools(quickstart)
    wait_for(
        "two Helm-installed replicas Running and Ready",
        lambda: len(running_ready(quickstart.json(*MC, "get", "pods"))) == 2,
    )
    deploy = quickstart.json(*MC, "get", "deployment", "meshtool-controller")["metadata"]
    assert deploy["labels"]["app.kubernetes.io/managed-by"] == "Helm", deploy["labels"]
    quickstart("apply", "-f", examples)
    wait_for("every example pod Ready and every PCR Issued", lambda: examples_issued(quickstart))
    for namespace in EXAMPLE_NAMESPACES:
        wait_for(
            f"a successful request in {namespace}", lambda ns=namespace: success(quickstart, ns)
        )
    listed = helm(quickstart, "list", "--namespace", "mesh-controller")
    report(
        "helm install",
        installed + "\n" + listed + quickstart("get", "pcr", "-A") + quickstart(*MC, "get", "all"),
    )
    helm(quickstart, "uninstall", "meshtool", "--namespace", "mesh-controller", "--wait")
    gone = quickstart.run(*MC, "get", "deployment", "meshtool-controller")
    assert gone.returncode != 0 and "NotFound" in gone.stderr, gone
