"""The demo's cluster side: control plane, controller manifests, CA pool Secrets, controller.

It does what the README's kind quickstart does, on the local control plane: `kubectl apply -f
controller-manifests`, `meshtool make-ca-pool-secret` for each signer, then runs the
controller Deployment's replicas as local processes with the Deployment's own arguments, the
Secrets' `pool` keys written to local files where the Secret volumes would be mounted, and a
kubeconfig for the controller's ServiceAccount, so the manifests' RBAC is what it runs under.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

from meshtool.localdemo import manifests
from meshtool.testing.controllerproc import ControllerProcess
from meshtool.testing.controlplane import ControlPlane

NAMESPACE = "mesh-controller"
SERVICE_ACCOUNT = "meshtool-controller"
POOLS = ("service-dns-ca-pool", "spiffe-ca-pool", "pod-identity-ca-pool")


class Kubectl:
    def __init__(self, cp: ControlPlane) -> None:
        self.binary, self.kubeconfig = cp.kubectl_path, cp.kubeconfig

    def __call__(self, *args: str) -> str:
        command = [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout


def make_pool_secrets(cp: ControlPlane) -> None:
    for name in POOLS:
        command = [
            sys.executable,
            "-m",
            "meshtool",
            "make-ca-pool-secret",
            "--kubeconfig",
            str(cp.kubeconfig),
            "--namespace",
            NAMESPACE,
            "--name",
            name,
            "--ca-id",
            "1",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"make-ca-pool-secret {name}: {done.stderr.strip()}")


def export_pools(kubectl: Kubectl, folder: Path) -> dict[str, Path]:
    """Secret name -> local folder holding its `pool` key, like a Secret volume."""
    out = {}
    for name in POOLS:
        data = kubectl("get", "secret", name, "-n", NAMESPACE, "-o", "jsonpath={.data.pool}")
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        (target / "pool").write_bytes(base64.b64decode(data))
        out[name] = target
    return out


def controller_deployment(repo: Path) -> manifests.JSON:
    docs = manifests.load_documents(repo / "controller-manifests")
    return next(d for d in docs if d.get("kind") == "Deployment")


def replica_args(
    deployment: manifests.JSON, *, kubeconfig: Path, pools: dict[str, Path], replica: str
) -> list[str]:
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    secret_of = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
    mounts = {
        m["mountPath"].rstrip("/"): pools[secret_of[m["name"]]]
        for m in container.get("volumeMounts") or []
        if m["name"] in secret_of
    }
    args = manifests.localize(list(container.get("args") or []), mounts)
    args = [a for a in args if a != "controller"]
    args = manifests.drop_flag(args, "--in-cluster", takes_value=False)
    args = manifests.drop_flag(args, "--health-address")
    return [
        *args,
        "--kubeconfig",
        str(kubeconfig),
        "--sharding-pod-namespace",
        NAMESPACE,
        "--sharding-pod-name",
        replica,
    ]


def start_controllers(
    repo: Path, cp: ControlPlane, pools: dict[str, Path], workdir: Path
) -> list[ControllerProcess]:
    deployment = controller_deployment(repo)
    kubeconfig = cp.user(
        f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}",
        ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}"],
    )
    replicas = int(deployment["spec"].get("replicas", 1))
    procs = []
    for i in range(replicas):
        name = f"{deployment['metadata']['name']}-{i}"
        args = replica_args(deployment, kubeconfig=kubeconfig, pools=pools, replica=name)
        proc = ControllerProcess(args, workdir=workdir, name=name)
        proc.start()
        procs.append(proc)
    return procs
