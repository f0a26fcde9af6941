"""Helpers for the doctor tests (not a test module): a controller setup of its own per test.

Each test gets a fresh namespace and signer domain (`<namespace>.example`), so its
ClusterTrustBundles, ClusterRole and Leases collide with no other test's. `DoctorSetup` renders
controller-manifests/rbac.yaml for that namespace and domain (optionally without one verb),
makes pool Secrets with `meshtool make-ca-pool-secret`, starts the controller as that
ServiceAccount, and runs `meshtool doctor` as a subprocess with the admin kubeconfig.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshtool.api.types import KeyType
from meshtool.kube import resources
from meshtool.kube.client import KubeClient
from meshtool.pki import capool
from meshtool.testing import fleet, pcrforms
from meshtool.testing.controllerproc import ControllerProcess
from meshtool.testing.controlplane import ControlPlane
from meshtool.testing.kubectl import Kubectl

REPO = Path(__file__).resolve().parents[2]
SIGNERS = ("service-dns", "spiffe", "pod-identity")


def meshtool(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "meshtool", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


@dataclass
class DoctorSetup:
    kube: KubeClient
    control_plane: ControlPlane
    kubectl: Kubectl
    namespace: str
    workdir: Path

    @property
    def domain(self) -> str:
        return f"{self.namespace}.example"

    @property
    def service_account(self) -> str:
        return f"meshtool-controller-{self.namespace}"

    def signer(self, short: str) -> str:
        return f"{self.domain}/{short}"

    def bundle_name(self, short: str) -> str:
        return f"{self.domain}:{short}:primary-bundle"

    async def apply_rbac(self, edit: tuple[str, str] = ("", "")) -> None:
        """controller-manifests/rbac.yaml for this namespace and domain, with the text
        `edit[0]` replaced by `edit[1]` (to take a verb away)."""
        text = (REPO / "controller-manifests" / "rbac.yaml").read_text()
        if edit[0]:
            assert edit[0] in text, edit
            text = text.replace(edit[0], edit[1])
        text = text.replace("name: meshtool-controller", f"name: {self.service_account}")
        text = text.replace("mesh-controller", self.namespace)
        text = text.replace("row-major.net/", f"{self.domain}/")
        path = self.workdir / "rbac.yaml"
        path.write_text(text)
        await self.kubectl.run("apply", "-f", str(path))

    async def make_secret(self, short: str) -> None:
        done = await asyncio.to_thread(
            meshtool,
            "make-ca-pool-secret",
            "--kubeconfig", str(self.control_plane.kubeconfig),
            "--namespace", self.namespace,
            "--name", f"{short}-ca-pool",
            "--ca-id", "1",
            "--signer-name", self.signer(short),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    async def put_secret(self, short: str, data: bytes) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{short}-ca-pool", "namespace": self.namespace},
            "type": "Opaque",
            "data": {capool.SECRET_KEY: base64.b64encode(data).decode()},
        }
        await self.kube.create(resources.SECRETS, body, namespace=self.namespace)

    async def pool_file(self, short: str) -> Path:
        secret = await self.kube.get(
            resources.SECRETS, f"{short}-ca-pool", namespace=self.namespace
        )
        path = self.workdir / f"{short}.pool"
        path.write_bytes(base64.b64decode(secret["data"][capool.SECRET_KEY]))
        return path

    async def start_controller(self) -> ControllerProcess:
        user = f"system:serviceaccount:{self.namespace}:{self.service_account}"
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{self.namespace}"]
        args = ["--kubeconfig", str(self.control_plane.user(user, groups))]
        args += ["--signer-domain", self.domain, "--sharding-pod-namespace", self.namespace]
        args += ["--sharding-pod-name", "replica-0"]
        for short in SIGNERS:
            args += [
                f"--enable-{short}-signer",
                f"--{short}-ca-pool",
                str(await self.pool_file(short)),
            ]
            args += [f"--{short}-ca-pool-secret", f"{self.namespace}/{short}-ca-pool"]
        proc = ControllerProcess(args, workdir=self.workdir / "controller")
        proc.start()
        await proc.wait_ready(timeout=90)
        return proc

    async def doctor(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            meshtool,
            "doctor",
            "--kubeconfig", str(self.control_plane.kubeconfig),
            "--namespace", self.namespace,
            "--service-account", self.service_account,
            "--signer-domain", self.domain,
            *extra,
        )  # fmt: skip

    async def report(self, *extra: str) -> dict[str, Any]:
        done = await self.doctor("--output", "json", *extra)
        assert "Traceback" not in done.stderr, done.stderr
        report: dict[str, Any] = json.loads(done.stdout)
        assert report["exitCode"] == done.returncode
        return report


def lines(done: subprocess.CompletedProcess[str], status: str, check: str) -> list[str]:
    """The report lines of one status and check, e.g. ("fail", "pool")."""
    return [line for line in done.stdout.splitlines() if line.split()[:2] == [status, check]]


async def pending_pcr(setup: DoctorSetup, short: str, version: str, form: Any) -> dict[str, Any]:
    """A PodCertificateRequest of one of the setup's signers, created as its pod's node."""
    node = f"doc-{secrets.token_hex(3)}"
    [node_uid] = (await fleet.create_nodes(setup.kube, [node])).values()
    sa = await fleet.ensure(
        setup.kube, resources.SERVICE_ACCOUNTS, fleet.service_account_body(setup.namespace, "app")
    )
    source = fleet.pod_certificate_source(setup.signer(short))
    pod = await setup.kube.create(
        resources.PODS,
        fleet.pod_body(
            setup.namespace, f"p-{node}", node=node, service_account="app", sources=[source]
        ),
        namespace=setup.namespace,
    )
    meta = pod["metadata"]
    target = pcrforms.PodTarget(
        setup.namespace, meta["name"], meta["uid"], "app", sa["metadata"]["uid"], node, node_uid
    )
    key = pcrforms.generate_key(KeyType.ECDSAP256)
    body = pcrforms.pcr_body(
        form, target, version=version, signer_name=setup.signer(short), key=key
    )
    resource = resources.pod_certificate_requests(version)
    node_config = setup.control_plane.user(f"system:node:{node}", ["system:nodes"])
    async with setup.control_plane.client(node_config) as as_node:
        return await fleet.create_as_node(as_node, resource, body)
