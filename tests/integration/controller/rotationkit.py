"""Helpers for the CA rotation tests (not a test module): the pool Secret in mesh-controller,
a mirror that plays the kubelet's Secret volume (Secret -> pool file), a watch recording every
Secret update, and `meshtool ca` run as a subprocess with the admin kubeconfig."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshtool.clock import SystemClock
from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.pki import capool

NAMESPACE = "mesh-controller"
SECRET = "spiffe-ca-pool"
SECRET_FLAG = ("--spiffe-ca-pool-secret", f"{NAMESPACE}/{SECRET}")


def pool_of(obj: dict[str, Any]) -> capool.CAPool:
    data = base64.b64decode(obj["data"][capool.SECRET_KEY])
    return capool.load(data, clock=SystemClock(), allow_expired=True)


def roles(pool: capool.CAPool) -> tuple[tuple[str, str, bool], ...]:
    """(id, role, published recorded) per CA: the shape of a pool state in the history."""
    return tuple(
        (ca.id, str(pool.role(ca)), bool(ca.state and ca.state.published_at)) for ca in pool.cas
    )


CORRUPT = (("corrupt", "", False),)
"""The history entry of a Secret whose pool does not load (a test corrupted it)."""


def history_entry(obj: dict[str, Any]) -> tuple[tuple[str, str, bool], ...]:
    try:
        return roles(pool_of(obj))
    except capool.CAPoolError:
        return CORRUPT


@dataclass
class PoolSecret:
    kube: KubeClient
    file: Path
    history: list[tuple[tuple[str, str, bool], ...]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def create(self, pool: capool.CAPool) -> None:
        with contextlib.suppress(errors.NotFound):
            await self.kube.delete(resources.SECRETS, SECRET, namespace=NAMESPACE)
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": NAMESPACE},
            "type": "Opaque",
            "data": {capool.SECRET_KEY: base64.b64encode(capool.dump(pool)).decode()},
        }
        created = await self.kube.create(resources.SECRETS, body, namespace=NAMESPACE)
        self.file.write_bytes(capool.dump(pool))
        self.history.append(roles(pool))
        rv = created["metadata"]["resourceVersion"]
        self.tasks = [asyncio.create_task(self._mirror()), asyncio.create_task(self._watch(rv))]

    async def _mirror(self) -> None:
        """The kubelet's Secret volume, faster: the file follows the Secret within ~0.3 s."""
        last = b""
        while True:
            obj = await self.kube.get(resources.SECRETS, SECRET, namespace=NAMESPACE)
            data = base64.b64decode(obj["data"][capool.SECRET_KEY])
            if data != last:
                tmp = self.file.with_suffix(".tmp")
                tmp.write_bytes(data)
                os.replace(tmp, self.file)
                last = data
            await asyncio.sleep(0.3)

    async def _watch(self, rv: str) -> None:
        selector = f"metadata.name={SECRET}"
        while True:
            async for event in self.kube.watch(
                resources.SECRETS, resource_version=rv, namespace=NAMESPACE, field_selector=selector
            ):
                rv = event.object.get("metadata", {}).get("resourceVersion", rv)
                if event.type == "MODIFIED":
                    self.history.append(history_entry(event.object))

    async def current(self) -> capool.CAPool:
        return pool_of(await self.kube.get(resources.SECRETS, SECRET, namespace=NAMESPACE))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, errors.KubeError):
                await task
        with contextlib.suppress(errors.NotFound):
            await self.kube.delete(resources.SECRETS, SECRET, namespace=NAMESPACE)


def meshtool_ca(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "meshtool", "ca", "--kubeconfig", str(kubeconfig)]
    command += ["--namespace", NAMESPACE, "--name", SECRET, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


async def ca(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(meshtool_ca, kubeconfig, *args)
