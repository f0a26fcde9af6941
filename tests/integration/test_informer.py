"""The informer and the watch against a real apiserver: events, resuming, bookmarks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from meshtool.kube.client import KubeClient, WatchEvent
from meshtool.kube.resources import Resource
from meshtool.runtime.informer import Informer
from meshtool.testing.controlplane import ControlPlane

CONFIGMAPS = Resource("", "v1", "configmaps", True)
Change = tuple[str, Any, Any]


def data_of(obj: dict[str, Any]) -> dict[str, str] | None:
    return dict(obj.get("data") or {})


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


class Running:
    """An informer task plus a queue of the changes it reported."""

    def __init__(self, informer: Informer[dict[str, str]]) -> None:
        self.informer = informer
        self.changes: asyncio.Queue[Change] = asyncio.Queue()
        informer.on_change(lambda key, old, new: self.changes.put_nowait((key, old, new)))
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.informer.run())
        await asyncio.wait_for(self.informer.wait_synced(), 10)

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task

    async def next(self) -> Change:
        return await asyncio.wait_for(self.changes.get(), 10)


@pytest.fixture
async def running(kube: KubeClient, namespace: str) -> AsyncIterator[Running]:
    informer = Informer(kube, CONFIGMAPS, namespace=namespace, transform=data_of)
    run = Running(informer)
    await run.start()
    yield run
    if run.task is not None and not run.task.done():
        await run.stop()


@pytest.mark.all_versions
async def test_sees_create_update_delete(
    running: Running, kube: KubeClient, namespace: str
) -> None:
    await kube.create(CONFIGMAPS, configmap("one", a="1"), namespace=namespace)
    assert await running.next() == (f"{namespace}/one", None, {"a": "1"})
    await kube.patch(CONFIGMAPS, "one", {"data": {"a": "2"}}, namespace=namespace)
    assert await running.next() == (f"{namespace}/one", {"a": "1"}, {"a": "2"})
    await kube.delete(CONFIGMAPS, "one", namespace=namespace)
    assert await running.next() == (f"{namespace}/one", {"a": "2"}, None)
    assert running.informer.get(f"{namespace}/one") is None


async def test_resumes_and_reports_what_it_missed(
    running: Running,
    kube: KubeClient,
    namespace: str,
    control_plane: ControlPlane,
) -> None:
    await kube.create(CONFIGMAPS, configmap("stays", v="1"), namespace=namespace)
    await kube.create(CONFIGMAPS, configmap("goes", v="1"), namespace=namespace)
    await running.next(), await running.next()
    await running.stop()
    await kube.delete(CONFIGMAPS, "goes", namespace=namespace)
    await kube.create(CONFIGMAPS, configmap("new", v="1"), namespace=namespace)
    # Resume from long ago, after an etcd compaction. 1.37 still replays this from its watch
    # cache instead of answering 410; the Gone -> relist path is unit-tested with a fake.
    await control_plane.compact()
    running.informer.last_resource_version = "1"
    await running.start()
    changes = sorted([await running.next(), await running.next()], key=lambda c: c[0])
    assert changes == [
        (f"{namespace}/goes", {"v": "1"}, None),
        (f"{namespace}/new", None, {"v": "1"}),
    ]
    assert sorted(running.informer._cache) == [f"{namespace}/new", f"{namespace}/stays"]
    assert int(running.informer.last_resource_version) > 1


async def test_bookmarks_advance_the_resource_version(kube: KubeClient, namespace: str) -> None:
    listed = await kube.list(CONFIGMAPS, namespace=namespace)
    # A write elsewhere moves the global resourceVersion without an event for our watch.
    await kube.create(CONFIGMAPS, configmap("elsewhere"), namespace="default")
    # The watch cache sends a bookmark about once a minute, the last one 2 s before the watch's
    # deadline; on a loaded machine that one can miss the close. So watch again (from the same
    # resourceVersion) until a bookmark arrives: at most three one-minute watches.
    events = await _until_bookmark(kube, namespace, listed.resource_version, attempts=3)
    bookmarks = [e for e in events if e.type == "BOOKMARK"]
    assert bookmarks, events
    latest = int(bookmarks[-1].object["metadata"]["resourceVersion"])
    assert latest > int(listed.resource_version)
    await kube.delete(CONFIGMAPS, "elsewhere", namespace="default")


async def _until_bookmark(
    kube: KubeClient, namespace: str, resource_version: str, *, attempts: int
) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    for _ in range(attempts):
        stream = kube.watch(
            CONFIGMAPS, namespace=namespace, resource_version=resource_version, timeout_seconds=62
        )
        async with contextlib.aclosing(stream):
            async for event in stream:
                events.append(event)
                if event.type == "BOOKMARK":
                    return events
    return events
