"""The `Authorization` header of the lean request path, from the same httpx2 `Auth` as httpx2.

lightkube turns a kubeconfig user into an httpx2 `Auth` (a static bearer token, a token file
that is re-read when the server answers 401, an exec plugin that is run again on 401, or none
for client certificates). `AuthHeader` drives that very flow with a stand-in request instead of
reimplementing it: `value()` runs the flow's first step once and caches the header it set;
`refresh()` (after a 401) sends the flow a 401 answer, so a token file is re-read or a plugin run
again, and caches the new header. When the flow has no answer to a 401 (a static token),
`refresh()` returns False and the caller reports the 401. Never logs the header.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import httpx2

Flow = AsyncGenerator[httpx2.Request, httpx2.Response]


class AuthHeader:
    def __init__(self, auth: httpx2.Auth | None, server: str) -> None:
        self._auth, self._server = auth, server
        self._value: str | None = None
        self._known = auth is None

    async def value(self) -> str | None:
        if not self._known:
            request = await self._first(self._flow())
            self._value, self._known = request.headers.get("Authorization"), True
        return self._value

    async def refresh(self) -> bool:
        """Ask the auth flow for new credentials after a 401; False if it has none."""
        if self._auth is None:
            return False
        flow = self._flow()
        await self._first(flow)
        try:
            request = await flow.asend(httpx2.Response(401))
        except StopAsyncIteration:
            return False
        self._value, self._known = request.headers.get("Authorization"), True
        return True

    def _flow(self) -> Flow:
        assert self._auth is not None
        return self._auth.async_auth_flow(httpx2.Request("GET", self._server))

    @staticmethod
    async def _first(flow: Flow) -> httpx2.Request:
        return await flow.__anext__()
