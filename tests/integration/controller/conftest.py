"""Fixtures for controller integration tests: CA pool files, the controller's RBAC identity from
controller-manifests/, controller processes, and kubelet simulators, all against the real
kube-apiserver of `meshtool.testing`'s pytest plugin."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from meshtool.clock import SystemClock
from meshtool.kube import resources
from meshtool.kube.client import KubeClient
from meshtool.pki import capool
from meshtool.testing import fleet
from meshtool.testing.controllerproc import ControllerProcess
from meshtool.testing.controlplane import ControlPlane
from meshtool.testing.kubelet import KubeletSimulator

REPO = Path(__file__).resolve().parents[3]
SIGNERS = ("service-dns", "spiffe", "pod-identity")
KEY_TYPES = {"service-dns": "ed25519", "spiffe": "ecdsa-p256", "pod-identity": "ed25519"}
CONTROLLER_USER = "system:serviceaccount:mesh-controller:meshtool-controller"
CONTROLLER_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:mesh-controller"]


def signer_name(short: str) -> str:
    return f"row-major.net/{short}"


def write_pool(path: Path, short: str, ca_id: str = "1") -> capool.CAPool:
    pool = capool.new_pool(
        ca_id=ca_id, name=signer_name(short), key_type=KEY_TYPES[short], clock=SystemClock()
    )
    path.write_bytes(capool.dump(pool))
    return pool


@pytest.fixture
def pools(tmp_path: Path) -> dict[str, Path]:
    paths = {short: tmp_path / f"{short}-pool.json" for short in SIGNERS}
    for short, path in paths.items():
        write_pool(path, short)
    return paths


@pytest.fixture
def controller_kubeconfig(control_plane: ControlPlane, kubectl: Any) -> Path:
    """The controller's own identity, with exactly the RBAC of controller-manifests/."""
    kubectl("apply", "-k", str(REPO / "controller-manifests"))
    return control_plane.user(CONTROLLER_USER, CONTROLLER_GROUPS)


StartController = Callable[..., Awaitable[ControllerProcess]]


@pytest_asyncio.fixture
async def start_controller(
    tmp_path: Path, controller_kubeconfig: Path, pools: dict[str, Path]
) -> AsyncIterator[StartController]:
    started: list[ControllerProcess] = []

    async def start(
        *extra: str, signers: tuple[str, ...] = SIGNERS, name: str = "controller"
    ) -> ControllerProcess:
        args = ["--kubeconfig", str(controller_kubeconfig), "--log-level", "debug"]
        for short in signers:
            args += [f"--enable-{short}-signer", f"--{short}-ca-pool", str(pools[short])]
        proc = ControllerProcess([*args, *extra], workdir=tmp_path / name, name=name)
        proc.start()
        started.append(proc)
        await proc.wait_ready(timeout=90)
        return proc

    yield start
    for proc in started:
        failed = proc.metric_sum("meshtool_failed_total")
        proc.stop()
        assert failed == 0, f"{proc.name} wrote Failed statuses:\n{proc.log()[-3000:]}"
        assert "PRIVATE KEY" not in proc.log(), "key material reached the controller log"


StartKubelet = Callable[..., Awaitable[KubeletSimulator]]


@pytest_asyncio.fixture
async def start_kubelet(control_plane: ControlPlane, tmp_path: Path) -> AsyncIterator[StartKubelet]:
    sims: list[tuple[KubeletSimulator, KubeClient]] = []

    async def start(node: str | None = None, **kwargs: Any) -> KubeletSimulator:
        node = node or f"node-{secrets.token_hex(3)}"
        client = control_plane.client(control_plane.user(f"system:node:{node}", ["system:nodes"]))
        sim = KubeletSimulator(
            client, node, tmp_path / "kubelet" / node, SystemClock(), jitter=False, **kwargs
        )
        await sim.start()
        sims.append((sim, client))
        return sim

    yield start
    for sim, client in sims:
        await sim.stop()
        await client.aclose()


async def make_pod(
    kube: KubeClient,
    namespace: str,
    name: str,
    *,
    node: str,
    sources: list[dict[str, Any]],
    labels: dict[str, str] | None = None,
    service_account: str = "app",
) -> dict[str, Any]:
    await fleet.ensure(
        kube, resources.SERVICE_ACCOUNTS, fleet.service_account_body(namespace, service_account)
    )
    body = fleet.pod_body(
        namespace, name, node=node, service_account=service_account, sources=sources, labels=labels
    )
    return await kube.create(resources.PODS, body, namespace=namespace)


def ctb_source(short: str, path: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    selector = {"matchLabels": labels} if labels is not None else {}
    return {
        "clusterTrustBundle": {
            "signerName": signer_name(short),
            "labelSelector": selector,
            "path": path,
        }
    }


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float, what: str, every: float = 0.25
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)
