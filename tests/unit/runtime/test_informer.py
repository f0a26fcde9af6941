"""The informer against an in-memory list/watch fake: diffs on relist, Gone, bookmarks, indexes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from meshtool.kube import errors
from meshtool.kube.client import ListResult, WatchEvent
from meshtool.kube.resources import Resource
from meshtool.runtime.informer import Informer

PODS = Resource("", "v1", "pods", True)


def pod(name: str, rv: str, node: str = "n1", ns: str = "ns") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns, "resourceVersion": rv},
        "spec": {"nodeName": node},
    }


class FakeClient:
    """Each list() returns the next scripted list; each watch() plays the next scripted stream
    (a list of events, possibly ending in an exception); when out of script, it blocks."""

    def __init__(
        self, lists: list[ListResult], watches: list[list[WatchEvent | Exception]]
    ) -> None:
        self.lists, self.watches = lists, watches
        self.watched_from: list[str] = []

    async def list(self, resource: Resource, **_: Any) -> ListResult:
        return self.lists.pop(0)

    async def list_pages(self, resource: Resource, **scope: Any) -> AsyncIterator[ListResult]:
        yield await self.list(resource, **scope)

    async def watch(
        self, resource: Resource, *, resource_version: str, **_: Any
    ) -> AsyncIterator[WatchEvent]:
        self.watched_from.append(resource_version)
        if not self.watches:
            await asyncio.Event().wait()
        for item in self.watches.pop(0):
            if isinstance(item, Exception):
                raise item
            yield item


def node_of(obj: dict[str, Any]) -> str | None:
    return str(obj["spec"]["nodeName"]) if obj["spec"]["nodeName"] != "skip" else None


async def run_until_idle(
    informer: Informer[str], client: FakeClient
) -> list[tuple[str, str | None, str | None]]:
    changes: list[tuple[str, str | None, str | None]] = []
    informer.on_change(lambda k, o, n: changes.append((k, o, n)))
    task = asyncio.create_task(informer.run())
    while client.watches or client.lists:
        await asyncio.sleep(0.01)  # fake time under looptime
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return changes


@pytest.mark.looptime
async def test_watch_events_update_cache_and_notify() -> None:
    client = FakeClient(
        [ListResult([pod("a", "1")], "1")],
        [
            [
                WatchEvent("MODIFIED", pod("a", "2", node="n2")),
                WatchEvent("ADDED", pod("b", "3")),
                WatchEvent("MODIFIED", pod("b", "4")),
                WatchEvent("DELETED", pod("a", "5", node="n2")),
                WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "9"}}),
            ]
        ],
    )
    informer = Informer(client, PODS, transform=node_of)
    changes = await run_until_idle(informer, client)
    # "b" MODIFIED to the same transformed value: no callback.
    assert changes == [
        ("ns/a", None, "n1"),
        ("ns/a", "n1", "n2"),
        ("ns/b", None, "n1"),
        ("ns/a", "n2", None),
    ]
    assert informer.has_synced and list(informer._cache) == ["ns/b"]
    assert informer.last_resource_version == "9"
    assert client.watched_from == ["1", "9"]


@pytest.mark.looptime
async def test_gone_relists_and_emits_the_difference() -> None:
    client = FakeClient(
        [
            ListResult([pod("a", "1"), pod("b", "1"), pod("c", "1")], "1"),
            ListResult([pod("a", "1"), pod("c", "7", node="n3"), pod("d", "8")], "8"),
        ],
        [[errors.Gone(410)]],
    )
    informer = Informer(client, PODS, transform=node_of)
    changes = await run_until_idle(informer, client)
    assert changes[3:] == [("ns/b", "n1", None), ("ns/c", "n1", "n3"), ("ns/d", None, "n1")]
    assert sorted(list(informer._cache)) == ["ns/a", "ns/c", "ns/d"]
    assert client.watched_from == ["1", "8"]


@pytest.mark.looptime
async def test_errors_back_off_and_resume_from_last_version() -> None:
    loop = asyncio.get_running_loop()
    client = FakeClient(
        [ListResult([], "1")],
        [
            [WatchEvent("ADDED", pod("a", "2")), errors.TransportError("reset")],
            [errors.ServerError(500)],
            [],
        ],
    )
    informer = Informer(client, PODS, transform=node_of)
    start = loop.time()
    await run_until_idle(informer, client)
    assert client.watched_from == ["1", "2", "2", "2"]
    assert loop.time() - start == pytest.approx(
        1 + 2, abs=0.1
    )  # two failures in a row: 1 s, then 2 s


@pytest.mark.looptime
async def test_transform_none_is_not_cached_and_indexes_follow() -> None:
    client = FakeClient(
        [ListResult([pod("a", "1"), pod("b", "1", ns="other"), pod("c", "1", node="skip")], "1")],
        [[WatchEvent("MODIFIED", pod("a", "2", node="skip"))]],
    )
    informer = Informer(client, PODS, transform=node_of)
    informer.add_index("node", lambda node: [node])
    await run_until_idle(informer, client)
    assert list(informer._cache) == ["other/b"]
    assert informer.by_index("node", "n1") == ["n1"]
    assert informer.by_index("node", "skip") == []


async def test_wait_synced_returns_after_first_list() -> None:
    client = FakeClient([ListResult([pod("a", "1")], "1")], [])
    informer = Informer(client, PODS, transform=node_of)
    task = asyncio.create_task(informer.run())
    await asyncio.wait_for(informer.wait_synced(), 5)
    assert informer.get("ns/a") == "n1" and informer.values() == ["n1"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
