"""The client of kube-apiserver: what every other package calls to read and write objects.

`KubeClient` sends raw JSON requests and hands back plain dicts: no generated models, because
they reject legacy v1beta1 PodCertificateRequests and cost a full decode per watch event.
Responses and watch lines are decoded with msgspec. The bytes travel over a transport
(`kube.transports`): the lean HTTP/1.1 pool for clients made from a kubeconfig or in-cluster
config (decision 0009), or an httpx2 client; `kube.config` builds both from lightkube's config
layer, with the same TLS context and credentials. The health probe always uses httpx2.

Invariants:
- every request (watch starts included) first takes a token from the client-side rate limiter
  (`meshtool.pacing.TokenBucket`; `qps=None` means no client-side limit);
- every HTTP error answer becomes an `errors.ApiError` subclass via `errors.from_status`, and
  every failure without an answer becomes `errors.TransportError` chained with `from`, its
  message naming the server and the cause (`meshtool.kube.unreachable`);
- writes carry `fieldManager=meshtool`; request bodies are never logged;
- lists and watches (`kube.listwatch`, the collection reads this class inherits) go through
  the same `_request` and `_stream`, so the limiter and error mapping above hold for them too.
"""

from __future__ import annotations

import builtins
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import msgspec

from meshtool import pacing
from meshtool.clock import SystemClock
from meshtool.kube import codec, config, errors, http1, listwatch, transports
from meshtool.kube.authheader import AuthHeader
from meshtool.kube.codec import ListResult as ListResult
from meshtool.kube.codec import WatchEvent as WatchEvent
from meshtool.kube.resources import Resource

JSON = dict[str, Any]
FIELD_MANAGER = "meshtool"
PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",  # JSON is YAML
}
DELETE_OPTIONS: JSON = {"apiVersion": "v1", "kind": "DeleteOptions"}
DEFAULT_QPS = 50.0
"""Rate limit of tools and tests (client-go's is 5/10); the controller passes its own flags."""
DEFAULT_BURST = 100

log = logging.getLogger(__name__)


class KubeClient(listwatch.ListWatchVerbs):
    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        qps: float | None = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        pool: config.PoolSettings | None = None,
        lean: tuple[http1.Pool, AuthHeader] | None = None,
    ) -> None:
        self._http = http
        self._pool = pool or config.PoolSettings()
        self._transport: transports.Transport = (
            transports.LeanTransport(*lean, server=self.server)
            if lean is not None
            else transports.HttpxTransport(http, self._pool)
        )
        self._clock = SystemClock()
        self._limiter = (
            pacing.TokenBucket(qps=qps, burst=burst, now=self._clock.monotonic)
            if qps is not None
            else None
        )

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        context: str | None = None,
        qps: float | None = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        pool: config.PoolSettings | None = None,
    ) -> KubeClient:
        pool = pool or config.PoolSettings()
        return cls.over(config.connection(config.from_kubeconfig(path, context), pool), qps, burst)

    @classmethod
    def in_cluster(
        cls,
        *,
        qps: float | None = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        pool: config.PoolSettings | None = None,
    ) -> KubeClient:
        pool = pool or config.PoolSettings()
        return cls.over(config.connection(config.in_cluster(), pool), qps, burst, pool)

    @classmethod
    def over(
        cls,
        conn: config.Connection,
        qps: float | None,
        burst: int,
        pool: config.PoolSettings | None = None,
    ) -> KubeClient:
        """A client whose requests and watches take the lean path (the health probe httpx2)."""
        return cls(conn.http, qps=qps, burst=burst, pool=pool, lean=(conn.lean, conn.auth))

    @property
    def server(self) -> str:
        return str(self._http.base_url).rstrip("/")

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()
        await self._http.aclose()

    async def get(self, resource: Resource, name: str, *, namespace: str | None = None) -> JSON:
        return await self._request("GET", resource.path(namespace, name))

    async def get_path(self, path: str) -> JSON:
        """GET any JSON path, e.g. "/version" or "/apis"."""
        return await self._request("GET", path)

    async def create(
        self,
        resource: Resource,
        body: JSON,
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> JSON:
        """POST a new object, or with `name` and `subresource` a subresource (a TokenRequest)."""
        path = resource.path(namespace, name, subresource)
        return await self._request("POST", path, body=body, write=True)

    async def review(self, resource: Resource, body: JSON) -> JSON:
        """The `status` the apiserver answers a review (TokenReview, SubjectAccessReview) with.

        Reviews are not stored, so there is no fieldManager; the body may hold a bearer token,
        which, like every request body, is never logged nor put into an error.
        """
        answer = await self._request("POST", resource.path(), body=body)
        status = answer.get("status")
        return status if isinstance(status, dict) else {}

    async def replace(
        self,
        resource: Resource,
        name: str,
        body: JSON,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        read_answer: bool = True,
        send_if: Callable[[], bool] | None = None,
    ) -> JSON:
        """PUT; with `read_answer=False` the stored object the server sends back is not decoded
        and {} is returned (a status writer that never looks at it saves a full decode). With
        `send_if`, the PUT is sent only if it still says yes once throttling and the connection
        pool let it go (else `errors.Withdrawn`)."""
        path = resource.path(namespace, name, subresource)
        return await self._request(
            "PUT", path, body=body, write=True, decode=read_answer, send_if=send_if
        )

    async def patch(
        self,
        resource: Resource,
        name: str,
        body: JSON | builtins.list[JSON],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        patch_type: str = "merge",
    ) -> JSON:
        """Patch; `patch_type` is merge, strategic, json or apply (server-side apply, forced)."""
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}")
        params = {"force": "true"} if patch_type == "apply" else {}
        headers = {"Content-Type": PATCH_CONTENT_TYPES[patch_type]}
        path = resource.path(namespace, name, subresource)
        return await self._request(
            "PATCH", path, body=body, params=params, headers=headers, write=True
        )

    async def delete(
        self,
        resource: Resource,
        name: str,
        *,
        namespace: str | None = None,
        uid: str | None = None,
        grace_period_seconds: int | None = None,
    ) -> None:
        """Delete; with `uid`, only that incarnation of the object (else errors.Conflict); with
        `grace_period_seconds=0`, a pod goes at once, without waiting for its kubelet."""
        body = DELETE_OPTIONS | ({"preconditions": {"uid": uid}} if uid else {})
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        await self._request("DELETE", resource.path(namespace, name), body=body)

    async def delete_collection(
        self, resource: Resource, *, namespace: str | None = None, label_selector: str
    ) -> None:
        """Delete every object matching `label_selector` in one request (the server iterates)."""
        params = listwatch.selectors(label_selector, None)
        await self._request("DELETE", resource.path(namespace), body=DELETE_OPTIONS, params=params)

    async def served_resources(self, group_version: str) -> set[str] | None:
        """Resource names (with subresources, e.g. "pods/status") served for a group/version."""
        path = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
        try:
            doc = await self._request("GET", path)
        except errors.NotFound:
            return None
        return {str(r["name"]) for r in doc.get("resources") or []}

    async def healthy(self, *, timeout: float | None = None) -> bool:
        """Whether /readyz (or /healthz on servers without it) answers 200 (within `timeout`
        seconds each, default the pool's request timeout). Never raises."""
        limit = httpx2.Timeout(timeout) if timeout is not None else self._pool.timeout
        for path in ("/readyz", "/healthz"):
            try:
                response = await self._http.get(path, timeout=limit)
            except httpx2.HTTPError:
                return False
            if response.status_code != 404:
                return response.status_code == 200
        return False

    async def _throttle(self) -> None:
        if self._limiter is not None:
            await self._limiter.acquire(self._clock)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: JSON | builtins.list[JSON] | None = None,
        headers: Mapping[str, str] | None = None,
        write: bool = False,
        decode: bool = True,
        send_if: Callable[[], bool] | None = None,
    ) -> JSON:
        what = f"{method} {path}"
        if write:
            params = {**(params or {}), "fieldManager": FIELD_MANAGER}
        content = msgspec.json.encode(body) if body is not None else None
        hdrs = {"Content-Type": "application/json", **(headers or {})} if content else headers
        await self._throttle()
        code, answer = await self._transport.request(
            method, path, params, content, hdrs, what, send_if
        )
        if code >= 400:
            raise codec.api_error(code, answer, what)
        return codec.decode(answer, what) if decode else {}

    @asynccontextmanager
    async def _stream(
        self, path: str, params: Mapping[str, str], what: str
    ) -> AsyncIterator[AsyncIterator[str | bytes]]:
        await self._throttle()
        async with self._transport.stream(path, params, what) as lines:
            yield lines
