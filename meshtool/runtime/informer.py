"""An informer: a local, always-converging copy of one kind of object, plus change callbacks.

`run()` lists, then watches from the list's resourceVersion with bookmarks, forever:
- every watch event updates the cache and calls the `on_change(key, old, new)` handlers;
- a normal end of the watch stream reconnects at once from the last seen resourceVersion
  (bookmarks advance it, so a quiet watch does not fall out of the etcd compaction window);
- `errors.Gone` (resourceVersion compacted away) relists and diffs the new list against the
  cache, emitting deletes for vanished objects and updates for changed ones, so no delete is
  ever missed;
- any other error backs off exponentially (1 s doubling, capped at 30 s) and retries.

The cache maps a key ("ns/name", or "name" for cluster-scoped kinds) to `transform(obj)`,
which keeps only what consumers need; `None` means "not cached" (a cached key whose object
turns into None is reported as deleted). Handlers run only when the transformed value
changes, synchronously and in event order, so they must be cheap (enqueue a key, no I/O).
Secondary indexes map an index value (e.g. a namespace) to the keys that produce it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Generic, Protocol, TypeVar

from meshtool import pacing
from meshtool.kube import errors
from meshtool.kube.client import ListResult, WatchEvent
from meshtool.kube.resources import Resource

T = TypeVar("T")
Handler = Callable[[str, T | None, T | None], None]
log = logging.getLogger(__name__)

BACKOFF_START = 1.0
BACKOFF_CAP = 30.0


class ListWatcher(Protocol):
    """The two `KubeClient` methods an informer needs (the seam unit tests fake)."""

    def list_pages(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[ListResult]: ...

    def watch(
        self,
        resource: Resource,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[WatchEvent]: ...


def object_key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


class Informer(Generic[T]):
    def __init__(
        self,
        client: ListWatcher,
        resource: Resource,
        *,
        transform: Callable[[dict[str, Any]], T | None],
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> None:
        self.resource = resource
        self._client = client
        self._transform = transform
        self._scope: dict[str, Any] = {
            "namespace": namespace,
            "label_selector": label_selector,
            "field_selector": field_selector,
        }
        self._cache: dict[str, T] = {}
        self._handlers: list[Handler[T]] = []
        self._indexers: dict[str, Callable[[T], list[str]]] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {}
        self._synced = asyncio.Event()
        self.last_resource_version = ""

    # -- reading ---------------------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    def get(self, key: str) -> T | None:
        return self._cache.get(key)

    def values(self) -> list[T]:
        return list(self._cache.values())

    def by_index(self, name: str, value: str) -> list[T]:
        return [self._cache[key] for key in self._indexes[name].get(value, ())]

    # -- wiring ----------------------------------------------------------------------------

    def on_change(self, handler: Handler[T]) -> None:
        self._handlers.append(handler)

    def add_index(self, name: str, fn: Callable[[T], list[str]]) -> None:
        self._indexers[name] = fn
        self._indexes[name] = {}
        for key, value in self._cache.items():
            self._index_add(name, key, value)

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """List and watch until cancelled; run again after a cancel, it resumes the watch."""
        needs_list, failures = not self.has_synced, 0
        while True:
            try:
                if needs_list:
                    await self._relist()
                    needs_list = False
                await self._watch()
                failures = 0
            except errors.Gone:
                log.info(
                    "%s: resourceVersion %s expired; relisting",
                    self._what,
                    self.last_resource_version,
                )
                needs_list = True
            except errors.KubeError as exc:
                failures += 1
                delay = pacing.backoff(failures - 1, base=BACKOFF_START, cap=BACKOFF_CAP)
                log.warning("%s: %s; retrying in %.0fs", self._what, exc, delay)
                await asyncio.sleep(delay)

    @property
    def _what(self) -> str:
        return f"informer {self.resource.path(self._scope['namespace'])}"

    async def _relist(self) -> None:
        fresh: dict[str, T] = {}
        resource_version = ""
        # Page by page: only views are kept across pages, so the raw objects of a
        # 50,000-item list never sit in memory at once.
        async for page in self._client.list_pages(self.resource, **self._scope):
            for obj in page.items:
                value = self._transform(obj)
                if value is not None:
                    fresh[object_key(obj)] = value
            resource_version = page.resource_version
        for key in [k for k in self._cache if k not in fresh]:
            self._store(key, None)
        for key, value in fresh.items():
            self._store(key, value)
        self.last_resource_version = resource_version
        self._synced.set()

    async def _watch(self) -> None:
        events = self._client.watch(
            self.resource, resource_version=self.last_resource_version, **self._scope
        )
        async with contextlib.aclosing(_aiter(events)) as stream:
            async for event in stream:
                self._apply(event)

    def _apply(self, event: WatchEvent) -> None:
        version = (event.object.get("metadata") or {}).get("resourceVersion")
        if event.type != "BOOKMARK":
            value = None if event.type == "DELETED" else self._transform(event.object)
            self._store(object_key(event.object), value)
        if version:
            self.last_resource_version = str(version)

    # -- cache bookkeeping -----------------------------------------------------------------

    def _store(self, key: str, new: T | None) -> None:
        old = self._cache.get(key)
        if old == new:
            return
        if old is not None:
            for name in self._indexers:
                self._index_discard(name, key, old)
        if new is None:
            del self._cache[key]
        else:
            self._cache[key] = new
            for name in self._indexers:
                self._index_add(name, key, new)
        self._notify(key, old, new)

    def _notify(self, key: str, old: T | None, new: T | None) -> None:
        for handler in self._handlers:
            try:
                handler(key, old, new)
            except Exception:
                log.exception("%s: change handler failed for %s", self._what, key)

    def _index_add(self, name: str, key: str, value: T) -> None:
        for index_value in self._indexers[name](value):
            self._indexes[name].setdefault(index_value, set()).add(key)

    def _index_discard(self, name: str, key: str, value: T) -> None:
        index = self._indexes[name]
        for index_value in self._indexers[name](value):
            keys = index.get(index_value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[index_value]


async def _aiter(events: AsyncIterator[WatchEvent]) -> AsyncGenerator[WatchEvent, None]:
    """Wrap any async iterator in an async generator so `aclosing` can always close it."""
    try:
        async for event in events:
            yield event
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
