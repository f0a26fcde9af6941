"""The SPIFFE bundle endpoint's listener: HTTPS without client authentication, bounded.

Each connection carries one request (HTTP/1.1 with `Connection: close`, like the health
endpoint): the request line and headers are read, `bundleroutes.answer` decides, the bytes are
written and the connection closes. What `bundleroutes` renders is the whole behaviour; this
module only moves bytes and enforces the limits:
* TLS as Mozilla's "intermediate" profile: TLS 1.2 and 1.3, ECDHE with AES-GCM or
  ChaCha20-Poly1305 only, no compression, no renegotiation, no client certificate asked for;
* the handshake must finish within `Limits.handshake_timeout`, the request head arrive within
  `Limits.read_timeout` and the answer drain within `Limits.write_timeout`: a slow client
  cannot hold a connection longer than their sum;
* a request line or header line longer than `Limits.max_line` bytes, or more than
  `Limits.max_headers` header lines, is refused (431); at most `Limits.max_connections` are
  served at once, further ones are closed at once.

The serving certificate is whatever `credentials()` returns at each handshake: the base context
carries an SNI callback that swaps in the current context (it runs with or without SNI), so a
renewed SVID or a reloaded file is used from the next handshake on, with no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from meshtool.app import bundleroutes
from meshtool.app.health import split_address
from meshtool.controllers.metrics import Metrics

log = logging.getLogger("meshtool.app.bundleendpoint")

INTERMEDIATE_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
"""Mozilla's intermediate TLS 1.2 suites without the DHE ones (no DH parameters are loaded);
TLS 1.3 suites are OpenSSL's defaults, all of which the profile allows."""


def server_context() -> ssl.SSLContext:
    """A server context with the intermediate profile and no certificate yet."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(INTERMEDIATE_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass(frozen=True, slots=True)
class Limits:
    handshake_timeout: float = 10.0
    read_timeout: float = 10.0
    write_timeout: float = 10.0
    max_line: int = 8192
    max_headers: int = 64
    max_connections: int = 256


class RequestTooLarge(ValueError):
    pass


async def read_request(reader: asyncio.StreamReader, limits: Limits) -> tuple[str, str]:
    """(method, path without query) of one request; headers are read and dropped."""
    line = await _line(reader)
    parts = line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError("malformed request line")
    for _ in range(limits.max_headers):
        if not await _line(reader):
            return parts[0], parts[1].split("?", 1)[0]
    raise RequestTooLarge(f"more than {limits.max_headers} header lines")


async def _line(reader: asyncio.StreamReader) -> str:
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise RequestTooLarge("a request line is too long") from None
    except asyncio.IncompleteReadError:
        raise ConnectionResetError("the client closed the connection") from None
    return raw.decode("latin-1").strip()


class BundleEndpoint:
    def __init__(
        self,
        address: str,
        *,
        routes: bundleroutes.Routes,
        bundles: bundleroutes.Lookup,
        credentials: Callable[[], ssl.SSLContext | None],
        metrics: Metrics,
        limits: Limits | None = None,
    ) -> None:
        self._host, self._port = split_address(address)
        self._routes, self._bundles, self._credentials = routes, bundles, credentials
        self._metrics, self._limits = metrics, limits or Limits()
        self._server: asyncio.Server | None = None
        self._active = 0

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        base = server_context()
        base.sni_callback = self._choose_context
        self._server = await asyncio.start_server(
            self._handle,
            self._host,
            self._port,
            ssl=base,
            ssl_handshake_timeout=self._limits.handshake_timeout,
            limit=self._limits.max_line,
        )
        log.info("SPIFFE bundle endpoint on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _choose_context(
        self, sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext
    ) -> int | None:
        current = self._credentials()
        if current is None:  # no certificate yet: refuse the handshake
            return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
        sock.context = current
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._active >= self._limits.max_connections:
            self._metrics.bundle_endpoint_requests.labels(bundleroutes.OTHER, "refused").inc()
            writer.close()
            return
        self._active += 1
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError, ssl.SSLError):
            pass
        finally:
            self._active -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError, ssl.SSLError):
                await asyncio.wait_for(writer.wait_closed(), self._limits.write_timeout)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        method = "GET"
        try:
            async with asyncio.timeout(self._limits.read_timeout):
                method, path = await read_request(reader, self._limits)
        except RequestTooLarge as exc:
            response = _refusal(431, str(exc))
        except TimeoutError:
            response = _refusal(408, "request timeout")
        except ValueError as exc:
            response = _refusal(400, str(exc))
        else:
            response = bundleroutes.answer(self._routes, method, path, self._bundles)
        self._observe(response)
        writer.write(bundleroutes.encode(response, method))
        await asyncio.wait_for(writer.drain(), self._limits.write_timeout)

    def _observe(self, response: bundleroutes.Response) -> None:
        requests = self._metrics.bundle_endpoint_requests
        requests.labels(response.path_class, str(response.status)).inc()


def _refusal(status: int, message: str) -> bundleroutes.Response:
    return bundleroutes.Response(status, (message + "\n").encode())
