"""Reading collections: lists page by page, and watches, as `KubeClient` offers them.

`ListWatchVerbs` is the part of `meshtool.kube.client.KubeClient` that reads whole collections
(it is a mixin: the client supplies `_request` and `_stream`, which throttle, send and map
errors). The rules it keeps:
- a list is read in pages of `limit` items, following `continue` tokens; every page carries
  the resourceVersion of the first, which is the list's (a later page's is not a snapshot);
- items get the `apiVersion`/`kind` the server leaves out of list items (`codec.with_kind`);
- a watch asks for bookmarks and ends when the server ends it (`timeoutSeconds`); it never
  restarts by itself, and an expired resourceVersion surfaces as `errors.Gone` from the codec,
  so the caller (the informer) relists;
- label and field selectors are passed through as given, and only when set.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from meshtool.kube import codec
from meshtool.kube.codec import ListResult, WatchEvent
from meshtool.kube.resources import Resource

JSON = dict[str, Any]


class ListWatchVerbs:
    async def _request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None
    ) -> JSON:
        raise NotImplementedError

    def _stream(
        self, path: str, params: Mapping[str, str], what: str
    ) -> AbstractAsyncContextManager[AsyncIterator[str | bytes]]:
        raise NotImplementedError

    async def list(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
    ) -> ListResult:
        """All pages of a list; items get the `apiVersion`/`kind` the server leaves out."""
        items: builtins.list[JSON] = []
        resource_version = ""
        async for page in self.list_pages(
            resource,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
        ):
            items.extend(page.items)
            resource_version = page.resource_version
        return ListResult(items, resource_version)

    async def list_pages(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
    ) -> AsyncIterator[ListResult]:
        """A list page by page (each with the list's resourceVersion, that of the first page),
        so a caller can keep what it needs of each page and drop the rest before the next."""
        params = selectors(label_selector, field_selector) | {"limit": str(limit)}
        resource_version = ""
        while True:
            page = await self._request("GET", resource.path(namespace), params=params)
            meta = page.get("metadata") or {}
            resource_version = resource_version or str(meta.get("resourceVersion", ""))
            items = codec.with_kind(page.get("items") or [], resource, page.get("kind", ""))
            yield ListResult(items, resource_version)
            if not meta.get("continue"):
                return
            params["continue"] = str(meta["continue"])

    async def watch(
        self,
        resource: Resource,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[WatchEvent]:
        params = selectors(label_selector, field_selector) | {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
        }
        what = f"WATCH {resource.path(namespace)}"
        async with self._stream(resource.path(namespace), params, what) as lines:
            async for line in lines:
                if line:
                    yield codec.watch_event(line, what)


def selectors(label_selector: str | None, field_selector: str | None) -> dict[str, str]:
    params = {}
    if label_selector:
        params["labelSelector"] = label_selector
    if field_selector:
        params["fieldSelector"] = field_selector
    return params
