"""The two ways `KubeClient` reaches the apiserver, behind one small interface.

`KubeClient` builds request lines, bodies and errors; a transport only carries bytes:
`request(...)` answers `(status code, body)` and `stream(...)` opens a watch, giving its lines,
or raising the mapped API error for an error answer. Both turn a missing answer into
`errors.TransportError` with the words of `meshtool.kube.unreachable`, so callers cannot tell
them apart except by cost:

- `LeanTransport` (what `KubeClient.from_kubeconfig` and `in_cluster` use): the lean HTTP/1.1
  pool of `meshtool.kube.http1` and `watchstream`, with the `Authorization` header from
  `AuthHeader`; on a 401 it asks the auth flow for new credentials and sends the request once
  more (a watch carries them from its next start on);
- `HttpxTransport`: an httpx2 client (unit tests drive `KubeClient` through httpx2's
  MockTransport with it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import httpx2

from meshtool.kube import codec, config, errors, http1, unreachable, watchstream
from meshtool.kube.authheader import AuthHeader

Lines = AsyncIterator[str] | AsyncIterator[bytes]


class Transport(Protocol):
    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        what: str,
        send_if: Callable[[], bool] | None = None,
    ) -> tuple[int, bytes]:
        """Send one request; with `send_if`, ask it as late as the stack allows and raise
        `errors.Withdrawn` (nothing sent) when it says no."""
        ...

    def stream(
        self, path: str, params: Mapping[str, str], what: str
    ) -> AbstractAsyncContextManager[Lines]: ...

    async def aclose(self) -> None: ...


class HttpxTransport:
    def __init__(self, http: httpx2.AsyncClient, pool: config.PoolSettings) -> None:
        self._http, self._pool = http, pool
        self._server = str(http.base_url).rstrip("/")

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        what: str,
        send_if: Callable[[], bool] | None = None,
    ) -> tuple[int, bytes]:
        if send_if is not None and not send_if():  # httpx2 offers no later point
            raise errors.Withdrawn(f"{what} withdrawn before sending")
        try:
            response = await self._http.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx2.HTTPError as exc:
            raise self._unreachable(exc, what) from exc
        return response.status_code, response.content

    @asynccontextmanager
    async def stream(self, path: str, params: Mapping[str, str], what: str) -> AsyncIterator[Lines]:
        try:
            async with self._http.stream(
                "GET", path, params=params, timeout=self._pool.watch_timeout
            ) as response:
                if response.status_code >= 400:
                    raise codec.api_error(response.status_code, await response.aread(), what)
                yield response.aiter_lines()
        except httpx2.HTTPError as exc:
            raise self._unreachable(exc, what) from exc

    async def aclose(self) -> None:
        """Nothing of its own: the httpx2 client is the KubeClient's to close."""

    def _unreachable(self, exc: httpx2.HTTPError, what: str) -> errors.TransportError:
        return errors.TransportError(unreachable.describe(exc, server=self._server, what=what))


class LeanTransport:
    def __init__(self, pool: http1.Pool, auth: AuthHeader, *, server: str) -> None:
        self._pool, self._auth, self._server = pool, auth, server

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        what: str,
        send_if: Callable[[], bool] | None = None,
    ) -> tuple[int, bytes]:
        for attempt in range(2):
            hdrs = await self._with_auth(headers)
            try:
                answer = await self._pool.request(
                    method, path, params=params, headers=hdrs, body=content, send_if=send_if
                )
            except http1.NoAnswer as exc:
                raise self._no_answer(exc, what) from exc
            if answer.status != 401 or attempt or not await self._auth.refresh():
                break
        return answer.status, answer.body

    @asynccontextmanager
    async def stream(self, path: str, params: Mapping[str, str], what: str) -> AsyncIterator[Lines]:
        headers = await self._with_auth(None)
        try:
            async with watchstream.open_stream(
                self._pool, path, params=params, headers=headers
            ) as opened:
                if isinstance(opened, tuple):
                    if opened[0] == 401:
                        await self._auth.refresh()
                    raise codec.api_error(opened[0], opened[1], what)
                yield opened
        except http1.NoAnswer as exc:
            raise self._no_answer(exc, what) from exc

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def _with_auth(self, headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
        token = await self._auth.value()
        return {**(headers or {}), "Authorization": token} if token else headers

    def _no_answer(self, exc: http1.NoAnswer, what: str) -> errors.TransportError:
        message = unreachable.describe_no_answer(exc, server=self._server, what=what)
        return errors.TransportError(message)
