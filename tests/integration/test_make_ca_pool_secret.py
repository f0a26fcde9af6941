"""`meshtool make-ca-pool-secret` against the real apiserver: the Secret it creates loads back
as a valid pool (byte-identical after a load/dump round trip) and is never overwritten."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys

from meshtool.clock import SystemClock
from meshtool.kube import resources
from meshtool.pki import capool


def make_secret(control_plane, namespace: str, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "meshtool",
        "make-ca-pool-secret",
        "--kubeconfig",
        str(control_plane.kubeconfig),
        "--namespace",
        namespace,
        "--name",
        "service-dns-ca-pool",
        "--ca-id",
        "1",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


async def test_secret_loads_back_as_the_same_pool(kube, control_plane, namespace):
    done = await asyncio.to_thread(
        make_secret, control_plane, namespace, "--key-type", "ecdsa-p256"
    )
    assert done.returncode == 0, done.stderr
    assert "PRIVATE" not in done.stdout + done.stderr
    assert (
        "written to context" in done.stdout and control_plane_server(control_plane) in done.stdout
    )
    secret = await kube.get(resources.SECRETS, "service-dns-ca-pool", namespace=namespace)
    assert secret["type"] == "Opaque"
    data = base64.b64decode(secret["data"][capool.SECRET_KEY])
    pool = capool.load(data, clock=SystemClock())
    assert capool.dump(pool) == data
    assert [ca.id for ca in pool.cas] == ["1"]
    assert pool.signing_ca.root.extensions  # a CA certificate with its extensions

    again = await asyncio.to_thread(make_secret, control_plane, namespace)
    assert again.returncode != 0
    assert "already exists" in again.stderr and "Traceback" not in again.stderr
    unchanged = await kube.get(resources.SECRETS, "service-dns-ca-pool", namespace=namespace)
    assert unchanged["data"] == secret["data"]


def control_plane_server(control_plane) -> str:
    """The apiserver URL in the harness's admin kubeconfig."""
    for line in control_plane.kubeconfig.read_text().splitlines():
        if line.strip().startswith("server:"):
            return line.split("server:", 1)[1].strip()
    raise AssertionError("no server in the kubeconfig")
