"""The demo's cluster side: control plane, controller manifests, CA pool Secrets, controller.

It does what the README's kind quickstart does, on the local control plane: `kubectl apply -k
controller-manifests`, `meshtool make-ca-pool-secret` for each signer, then runs the
controller Deployment's replicas as local processes with the Deployment's own arguments, the
Secrets' `pool` keys written to local files where the Secret volumes would be mounted, and a
kubeconfig for the controller's ServiceAccount, so the manifests' RBAC is what it runs under.

The kubelet simulator shares the demo's event loop, so nothing here blocks it: kubectl runs
in a worker thread and `make-ca-pool-secret` as an asyncio subprocess.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path

from meshtool.localdemo import manifests
from meshtool.testing.controllerproc import ControllerProcess
from meshtool.testing.controlplane import ControlPlane
from meshtool.testing.kubectl import Kubectl

NAMESPACE = "mesh-controller"
SERVICE_ACCOUNT = "meshtool-controller"
POOLS = ("service-dns-ca-pool", "spiffe-ca-pool", "pod-identity-ca-pool")
KUBECTL_TIMEOUT = 120.0
POOL_SECRET_TIMEOUT = 60.0


async def kubectl_out(kubectl: Kubectl, *args: str) -> str:
    """kubectl's stdout; raises `KubectlError` when it fails (off the event loop)."""
    return (await kubectl.run(*args, timeout=KUBECTL_TIMEOUT)).stdout


async def make_pool_secrets(cp: ControlPlane) -> None:
    for name in POOLS:
        await _make_pool_secret(cp.kubeconfig, name)


async def _make_pool_secret(kubeconfig: Path, name: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "meshtool", "make-ca-pool-secret"],
        *["--kubeconfig", str(kubeconfig), "--namespace", NAMESPACE, "--name", name],
        *["--ca-id", "1"],
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), POOL_SECRET_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"make-ca-pool-secret {name}: {stderr.decode().strip()}")


async def export_pools(kubectl: Kubectl, folder: Path) -> dict[str, Path]:
    """Secret name -> local folder holding its `pool` key, like a Secret volume."""
    out = {}
    for name in POOLS:
        jsonpath = "jsonpath={.data.pool}"
        data = await kubectl_out(kubectl, "get", "secret", name, "-n", NAMESPACE, "-o", jsonpath)
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
    listen = "--bundle-endpoint-listen"
    if any(a == listen or a.startswith(f"{listen}=") for a in args):
        # The replicas share this machine: each listens on a free loopback port of its own.
        args = [*manifests.drop_flag(args, listen), f"{listen}=127.0.0.1:0"]
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
