"""A lean HTTP/1.1 keep-alive pool for the apiserver's ordinary requests (the hot path).

Why: through httpx2 one request to kube-apiserver costs the controller about 1.2 ms of CPU
(URL parsing, header models, the anyio and h11 layers); the same request written and parsed
here costs about 0.16 ms (docs/decisions/0009-http-hot-path.md has the measurements). Every
PodCertificateRequest costs at least one such request (its status write), so this is most of
the controller's CPU per certificate. Watches use the same connections' code, each on a
connection of its own (`meshtool.kube.watchstream`).

What it does, and its invariants:
- TLS and the client certificate come from the same `ssl.SSLContext` lightkube built for
  httpx2, and the `Authorization` header from the same httpx2 `Auth` (`AuthHeader`), so the two
  paths authenticate identically (bearer, token file re-read on 401, exec plugins);
- at most `max_connections` requests are in flight, each on its own connection; a connection
  goes back to the idle list only after its response was read completely and the server did
  not ask to close it; an idle connection the server has closed is dropped, not reused;
- a request on a reused connection that fails before any byte of the answer arrived (the
  server closed the idle connection as we wrote) is sent once more on a fresh connection,
  unless it is a POST, which is never sent twice;
- each request, the wait for a free connection and the connect included, is bounded by
  `timeout` seconds; any failure without an HTTP answer raises `NoAnswer` (its cause
  chained), whose `connect` tells whether the connection could not even be opened. Nothing
  here logs or retries beyond that one resend.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from meshtool.kube import errors

_CRLF = b"\r\n"
_MAX_HEAD = 64 * 1024


class NoAnswer(Exception):
    """The request got no HTTP answer; `connect` is True when no connection could be opened."""

    def __init__(self, connect: bool, timed_out: bool = False) -> None:
        super().__init__("no answer")
        self.connect, self.timed_out = connect, timed_out


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False

    @property
    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes
    headers: dict[bytes, bytes] = field(default_factory=dict)


class Pool:
    def __init__(
        self,
        server: str,
        ssl_context: ssl.SSLContext | None,
        *,
        max_connections: int,
        timeout: float,
        connect_timeout: float,
        headers: Mapping[str, str],
    ) -> None:
        url = urlsplit(server)
        self._host = url.hostname or ""
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = ssl_context if url.scheme == "https" else None
        self._prefix = url.path.rstrip("/")
        self._base = (f"Host: {url.netloc}\r\n" + _lines(headers)).encode()
        self._gate = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._timeout, self._connect_timeout = timeout, connect_timeout

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        send_if: Callable[[], bool] | None = None,
    ) -> Answer:
        """One request; `send_if`, when given, is asked once a connection is in hand, with no
        wait between it and the write: False releases the connection and raises `Withdrawn`."""
        head = self.head(method, path, params, headers, body)
        try:
            async with asyncio.timeout(self._timeout), self._gate:
                return await self._send(method, head, body, send_if)
        except TimeoutError as exc:
            raise NoAnswer(connect=False, timed_out=True) from exc

    async def aclose(self) -> None:
        while self._idle:
            conn = self._idle.pop()
            conn.close()
            with contextlib.suppress(OSError):
                await conn.writer.wait_closed()

    @property
    def timeout(self) -> float:
        return self._timeout

    def head(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        body: bytes | None,
    ) -> bytes:
        target = self._prefix + path + (f"?{urlencode(params)}" if params else "")
        extra = dict(headers or {})
        if body is not None:
            extra["Content-Length"] = str(len(body))
        return f"{method} {target} HTTP/1.1\r\n".encode() + self._base + _lines(extra).encode()

    async def _send(
        self, method: str, head: bytes, body: bytes | None, send_if: Callable[[], bool] | None
    ) -> Answer:
        conn = await self._connection()
        try:
            return await self._exchange_on(conn, head, body, send_if)
        except _Unanswered as exc:
            if not conn.reused or method == "POST":
                raise NoAnswer(connect=False) from exc.__cause__
        try:  # the idle connection died under us: once more, on a fresh one
            return await self._exchange_on(await self.open_connection(), head, body, send_if)
        except _Unanswered as exc:
            raise NoAnswer(connect=False) from exc.__cause__

    async def _exchange_on(
        self,
        conn: _Connection,
        head: bytes,
        body: bytes | None,
        send_if: Callable[[], bool] | None,
    ) -> Answer:
        """One exchange on `conn`: closed on any failure, back to the pool (or closed) after.
        `send_if` is asked first, with no wait before the write: no returns `conn` unused."""
        if send_if is not None and not send_if():
            self._release(conn, keep=True)
            raise errors.Withdrawn("withdrawn before sending: send_if said no")
        try:
            answer, keep = await _exchange(conn, head, body)
        except BaseException:
            conn.close()
            raise
        self._release(conn, keep)
        return answer

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                conn.reused = True
                return conn
            conn.close()
        return await self.open_connection()

    async def open_connection(self) -> _Connection:
        """A fresh connection of the caller's own (a watch's), outside the pool's limit."""
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self._host, self._port, ssl=self._ssl, limit=_MAX_HEAD
                )
        except ConnectionResetError as exc:
            raise NoAnswer(connect=True) from _handshake_cut(exc, self._ssl is not None)
        except (OSError, TimeoutError) as exc:
            raise NoAnswer(connect=True, timed_out=isinstance(exc, TimeoutError)) from exc
        return _Connection(reader, writer)

    def _release(self, conn: _Connection, keep: bool) -> None:
        if keep and conn.usable:
            self._idle.append(conn)
        else:
            conn.close()


def _handshake_cut(exc: ConnectionResetError, tls: bool) -> OSError:
    """A reset while opening a TLS connection happens in the handshake (TCP's own failures are
    refusals or timeouts): asyncio reports a server's hang-up there as a bare
    ConnectionResetError(), or as ECONNRESET when our ClientHello was unread at its close. Say
    it is a failed handshake either way, as httpx2 did."""
    if not tls:
        return exc
    why = "the server closed the connection during the handshake"
    if exc.errno is not None:
        why = "the server reset the connection during the handshake"
    cut = ssl.SSLError(0, why)
    cut.__cause__ = exc
    return cut


class _Unanswered(Exception):
    """The connection failed before any byte of the answer arrived."""


LOST = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)
"""What reading an answer raises when the connection breaks or the bytes make no sense."""


async def _exchange(conn: _Connection, head: bytes, body: bytes | None) -> tuple[Answer, bool]:
    """Send one request and read its answer; (answer, whether the connection may be reused)."""
    status, fields = await send_head(conn, head, body)
    try:
        return await read_body(conn.reader, status, fields)
    except LOST as exc:
        raise NoAnswer(connect=False) from exc


async def send_head(
    conn: _Connection, head: bytes, body: bytes | None = None
) -> tuple[int, dict[bytes, bytes]]:
    """Send a request and read the answer's status and header fields (lower-case names).
    Raises `_Unanswered` when not one byte of the answer came, `NoAnswer` for a torn head."""
    try:
        conn.writer.write(head + _CRLF + (body or b""))
        await conn.writer.drain()
        block = await conn.reader.readuntil(_CRLF + _CRLF)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise NoAnswer(connect=False) from exc
        raise _Unanswered() from exc
    except (OSError, asyncio.LimitOverrunError) as exc:
        raise _Unanswered() from exc
    first, _, rest = block.partition(_CRLF)
    try:
        return int(first.split(b" ", 2)[1]), _headers(rest)
    except (IndexError, ValueError) as exc:
        raise NoAnswer(connect=False) from exc


async def read_body(
    reader: asyncio.StreamReader, status: int, fields: dict[bytes, bytes]
) -> tuple[Answer, bool]:
    """The whole body after `send_head`, and whether the connection may be reused."""
    keep = fields.get(b"connection", b"").lower() != b"close"
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        body = b"".join([piece async for piece in chunks(reader)])
    elif b"content-length" in fields:
        body = await reader.readexactly(int(fields[b"content-length"]))
    elif status in (204, 304):
        body = b""
    else:
        body, keep = await reader.read(), False
    return Answer(status, body, fields), keep


def _headers(block: bytes) -> dict[bytes, bytes]:
    headers: dict[bytes, bytes] = {}
    for line in block.split(_CRLF):
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


async def chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The pieces of a chunked body as they arrive; ends after the last chunk and trailers."""
    while size := int((await reader.readuntil(_CRLF)).split(b";", 1)[0], 16):
        yield await reader.readexactly(size)
        await reader.readexactly(2)
    while await reader.readuntil(_CRLF) != _CRLF:  # trailers, then the empty line
        pass


def _lines(headers: Mapping[str, str]) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items())
