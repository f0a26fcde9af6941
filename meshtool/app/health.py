"""The health endpoint: `/healthz`, `/readyz` and `/metrics` on one small HTTP listener.

`/healthz` answers 200 while the event loop runs (a wedged loop cannot answer, which is what a
liveness probe should catch); its body also carries one line per `Reports` entry (the bundle
endpoint's state), which never turns it red. `/readyz` answers 200 only when every readiness
check passes, and 503 with one line per failing check otherwise: caches not synced, a CA pool
not loaded or corrupt, the API unreachable, the bundle endpoint without a certificate.
`/metrics` is the Prometheus text format of the controller's own registry; given a `MetricsAuth`
(`--metrics-auth=kubernetes`), it first needs a bearer token the apiserver authenticates and
authorizes for `get /metrics` (401/403/503 otherwise), while the probes stay open.

It is deliberately minimal (HTTP/1.0-style, one request per connection): probes and scrapers
need nothing more, and it keeps a web framework out of the controller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from meshtool.app.metricsauth import METRICS_PATH, MetricsAuth

log = logging.getLogger("meshtool.app.health")

Readiness = Callable[[], list[str]]
Reports = Callable[[], list[str]]
MAX_HEADERS = 64
"""Header lines read per request; a probe or scraper sends a handful."""


def split_address(address: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6ADDR]:PORT` or `:PORT` (all interfaces); port 0 picks a free one."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--health-address {address!r} is not HOST:PORT or :PORT")
    if int(port) > 65535:
        raise ValueError(f"--health-address {address!r}: port {int(port)} is not in 1-65535")
    return (host.strip("[]") or "0.0.0.0"), int(port)


def _response(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def route(
    path: str, readiness: Readiness, registry: CollectorRegistry, reports: Reports = list
) -> bytes:
    if path == "/healthz":
        return _response("200 OK", "".join(f"{line}\n" for line in ["ok", *reports()]).encode())
    if path == "/readyz":
        problems = readiness()
        if problems:
            return _response("503 Service Unavailable", ("\n".join(problems) + "\n").encode())
        return _response("200 OK", b"ok\n")
    if path == METRICS_PATH:
        return _response("200 OK", generate_latest(registry), CONTENT_TYPE_LATEST)
    return _response("404 Not Found", b"not found\n")


async def read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    """The path (without query) and the headers (lower-case names) of one request."""
    parts = (await reader.readline()).decode("latin-1").split()
    path = parts[1].split("?")[0] if len(parts) >= 2 else "/"
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = (await reader.readline()).decode("latin-1").strip()
        if not line:
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return path, headers


class HealthServer:
    def __init__(
        self,
        address: str,
        readiness: Readiness,
        registry: CollectorRegistry,
        *,
        auth: MetricsAuth | None = None,
        reports: Reports = list,
    ) -> None:
        self._host, self._port = split_address(address)
        self._readiness, self._registry, self._auth = readiness, registry, auth
        self._reports = reports
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)
        guarded = ", /metrics needs a token" if self._auth else ""
        log.info(
            "health endpoint on %s:%d (/healthz, /readyz, /metrics%s)",
            self._host,
            self.port,
            guarded,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            path, headers = await asyncio.wait_for(read_head(reader), timeout=5)
            writer.write(await self._answer(path, headers.get("authorization")))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, path: str, authorization: str | None) -> bytes:
        if path == METRICS_PATH and self._auth is not None:
            verdict = await self._auth.check(authorization)
            if not verdict.ok:
                return _response(verdict.status, verdict.message.encode())
        return route(path, self._readiness, self._registry, self._reports)
