"""`ClusterCache.services_selecting` over a real informer's anchor index equals a scan, also
after Services change their selectors, appear and go (the index is kept change by change)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

from meshtool.api import objects, selectors, types
from meshtool.app import components
from meshtool.app.settings import ControllerSettings
from meshtool.controllers import cache
from meshtool.kube import resources
from meshtool.kube.client import ListResult, WatchEvent
from meshtool.runtime.informer import Informer

KEYS, VALUES = ("app", "tier", "track"), ("a", "b", "c")


class Feed:
    """A list/watch fake: one list, then the events put on `events`."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.events: asyncio.Queue[WatchEvent] = asyncio.Queue()

    async def list(self, resource: Any, **_: Any) -> ListResult:
        return ListResult(items=self.items, resource_version="1")

    async def list_pages(self, resource: Any, **scope: Any) -> AsyncIterator[ListResult]:
        yield await self.list(resource, **scope)

    async def watch(self, resource: Any, **_: Any) -> AsyncIterator[WatchEvent]:
        while True:
            yield await self.events.get()


def service(rng: random.Random, name: str) -> dict[str, Any]:
    pairs = rng.sample(KEYS, rng.randint(0, 2))
    spec: dict[str, Any] = {"type": rng.choice(["ClusterIP", "NodePort", "ExternalName"])}
    if rng.random() < 0.9:
        spec["selector"] = {k: rng.choice(VALUES) for k in pairs}
    meta = {"name": name, "namespace": rng.choice(["ns", "other"]), "resourceVersion": "1"}
    return {"metadata": meta, "spec": spec}


def pods(rng: random.Random) -> list[types.PodView]:
    return [
        types.PodView(
            "ns", f"p{i}", "u", {k: rng.choice(VALUES) for k in rng.sample(KEYS, 2)}, "sa", "n"
        )
        for i in range(30)
    ]


def view(informer: Informer[types.ServiceView]) -> cache.ClusterCache:
    empty: Any = None
    return cache.ClusterCache(pods=empty, services=informer, service_accounts=empty, nodes=empty)


def check(informer: Informer[types.ServiceView], everyone: list[types.PodView]) -> None:
    for pod in everyone:
        found = sorted(s.name for s in view(informer).services_selecting(pod))
        assert found == sorted(s.name for s in informer.values() if selectors.selects(s, pod))


async def test_indexed_selection_equals_a_scan_through_changes() -> None:
    rng = random.Random(7)
    feed = Feed([service(rng, f"s{i}") for i in range(200)])
    informer = Informer(feed, resources.SERVICES, transform=objects.service_view)
    informer.add_index(cache.NAMESPACE_INDEX, cache.by_namespace)
    informer.add_index(cache.ANCHOR_INDEX, cache.by_anchor)
    task = asyncio.create_task(informer.run())
    await informer.wait_synced()
    everyone = pods(rng)
    check(informer, everyone)
    for step in range(300):
        name = f"s{rng.randrange(220)}"
        kind = "DELETED" if step % 5 == 0 else "MODIFIED"
        obj = service(rng, name)
        obj["metadata"]["namespace"] = "ns"
        await feed.events.put(WatchEvent(kind, obj))
    while not feed.events.empty():
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    check(informer, everyone)
    task.cancel()


def test_the_controller_indexes_services_by_anchor() -> None:
    client: Any = Feed([])
    built = components.build_informers(
        client,
        settings=ControllerSettings(),
        signer_names=["x.io/y"],
        pcr_version="v1",
        ctb_version="v1beta1",
    )
    assert built.services.by_index(cache.ANCHOR_INDEX, "nothing") == []
    assert cache.by_anchor(types.ServiceView("ns", "s", "ClusterIP", {"b": "1", "a": "2"})) == [
        selectors.anchor_key("ns", "a", "2")
    ]
