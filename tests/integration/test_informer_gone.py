"""A real 410 Gone: with the watch cache off, a watch from a compacted resourceVersion is answered
Gone by the apiserver, and the informer relists and reports exactly what changed meanwhile
(including deletions it never saw as events)."""

from __future__ import annotations

import asyncio

import pytest

from meshtool.kube import errors
from meshtool.kube.resources import NAMESPACES, Resource
from meshtool.runtime.informer import Informer
from meshtool.testing.controlplane import ControlPlane

CONFIGMAPS = Resource("", "v1", "configmaps", True)


def configmap(name: str, value: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"v": value},
    }


@pytest.fixture
async def uncached(tmp_path, k8s_version):
    """A control plane of its own whose watches read etcd directly (no watch cache)."""
    async with ControlPlane(
        k8s_version, tmp_path / "k8s", apiserver_flags=["--watch-cache=false"]
    ) as cp:
        yield cp


async def run_until(informer: Informer, seen: list, count: int) -> None:
    """Run the informer until `seen` holds `count` changes (or 10 s pass), then stop it."""
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.wait_synced(), 10)
        for _ in range(100):
            if len(seen) >= count:
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_gone_relists_and_reports_missed_deletions(uncached: ControlPlane):
    async with uncached.client() as kube:
        ns = "gone"
        await kube.create(
            NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        )
        for name in ("stays", "goes", "changes"):
            await kube.create(CONFIGMAPS, configmap(name, "1"), namespace=ns)
        informer = Informer(
            kube, CONFIGMAPS, namespace=ns, transform=lambda o: (o.get("data") or {}).get("v")
        )
        seen: list[tuple[str, object, object]] = []
        informer.on_change(lambda key, old, new: seen.append((key, old, new)))
        await run_until(informer, seen, 3)
        assert len(seen) == 3
        stopped_at = informer.last_resource_version

        # While the informer is away: a delete, an update, a create; then etcd compacts.
        await kube.delete(CONFIGMAPS, "goes", namespace=ns)
        await kube.replace(CONFIGMAPS, "changes", configmap("changes", "2"), namespace=ns)
        await kube.create(CONFIGMAPS, configmap("new", "1"), namespace=ns)
        await uncached.compact()
        with pytest.raises(errors.Gone):  # the server itself answers 410 for that version
            async for _ in kube.watch(CONFIGMAPS, namespace=ns, resource_version=stopped_at):
                pass

        seen.clear()
        await run_until(informer, seen, 3)  # resumes from stopped_at: Gone, relist, diff
        assert sorted(seen, key=lambda c: c[0]) == [
            (f"{ns}/changes", "1", "2"),
            (f"{ns}/goes", "1", None),
            (f"{ns}/new", None, "1"),
        ]
        assert sorted(list(informer._cache)) == [f"{ns}/changes", f"{ns}/new", f"{ns}/stays"]
