"""The one HTTPS GET of an anchors document: bounded in size and time, the server verified.

`get(url, ca_file=)` verifies the server's certificate for the URL's host against `ca_file`
(PEM) or, without one, the system trust store; it never sends client credentials, ignores
proxy environment variables and follows no redirect (an anchors URL is where the anchors are).
The whole exchange must finish within `timeout` seconds, and a body over `max_bytes` is refused
as soon as it is seen, so a slow or huge answer cannot hold a client. Any failure is a
`FetchError` naming the URL and the problem. This module is the only one of
`meshtool.anchorclient` that imports the HTTP library (an import-linter exception).
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx2

MAX_BYTES = 1 << 20
"""An anchors document is a few CA certificates: a few kB; 1 MiB is far above any real one."""
TIMEOUT = 10.0
ACCEPT = "application/pkix-cert, application/pkcs7-mime, application/x-pem-file, */*;q=0.1"


class FetchError(Exception):
    pass


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A client context that verifies the server against `ca_file`, or the system store."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise FetchError(f"cannot load CA file {ca_file}: {exc}") from None


async def get(
    url: str,
    *,
    ca_file: Path | None = None,
    timeout: float = TIMEOUT,
    max_bytes: int = MAX_BYTES,
) -> bytes:
    context = tls_context(ca_file)
    try:
        async with asyncio.timeout(timeout):
            return await _get(url, context, timeout, max_bytes)
    except TimeoutError:
        raise FetchError(f"GET {url}: no complete answer within {timeout:g} s") from None
    except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
        raise FetchError(f"GET {url}: {exc or type(exc).__name__}") from exc


async def _get(url: str, context: ssl.SSLContext, timeout: float, max_bytes: int) -> bytes:
    async with (
        httpx2.AsyncClient(verify=context, timeout=timeout, trust_env=False) as client,
        client.stream("GET", url, headers={"Accept": ACCEPT}) as response,
    ):
        if response.status_code != 200:
            raise FetchError(f"GET {url}: HTTP {response.status_code}, expected 200")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"GET {url}: body of {declared} bytes is over {max_bytes}")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise FetchError(f"GET {url}: body is over {max_bytes} bytes")
        return bytes(body)
