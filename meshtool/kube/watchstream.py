"""Watch streams over the lean HTTP/1.1 path: one dedicated connection per watch.

A watch is a GET whose answer never ends until the server closes it (`timeoutSeconds`): a
chunked body of JSON lines, one event per line, a chunk boundary anywhere. `open_stream` opens a
fresh connection (watches never take one from, or give one back to, the request pool: they live
for minutes), sends the request and reads the head within the request timeout. An error answer
is read whole and returned as `(status, body)` for the caller to map; a 2xx answer gives an
async iterator of complete lines (no trailing newline, empty lines dropped), with no read
timeout, because a quiet watch is not a dead one. The connection is closed when the iterator is
closed or the context ends, whichever comes first. Failures without an answer raise
`http1.NoAnswer`, as ordinary requests do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from meshtool.kube import http1

Opened = tuple[int, bytes] | AsyncIterator[bytes]


@asynccontextmanager
async def open_stream(
    pool: http1.Pool,
    path: str,
    *,
    params: Mapping[str, str],
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[Opened]:
    conn = await pool.open_connection()
    try:
        head = pool.head("GET", path, params, headers, None)
        async with _bounded(pool.timeout):
            status, fields = await http1.send_head(conn, head)
            if status >= 400:
                answer, _ = await http1.read_body(conn.reader, status, fields)
        yield (status, answer.body) if status >= 400 else _lines(conn.reader, fields)
    finally:
        conn.close()


@asynccontextmanager
async def _bounded(seconds: float) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise http1.NoAnswer(connect=False, timed_out=True) from exc


async def _lines(reader: asyncio.StreamReader, fields: dict[bytes, bytes]) -> AsyncIterator[bytes]:
    chunked = b"chunked" in fields.get(b"transfer-encoding", b"").lower()
    pieces = http1.chunks(reader) if chunked else _until_closed(reader)
    pending = b""
    try:
        async for piece in pieces:
            *complete, pending = (pending + piece).split(b"\n")
            for line in complete:
                if line.strip():
                    yield line
    except http1.LOST as exc:
        raise http1.NoAnswer(connect=False) from exc
    if pending.strip():
        yield pending


async def _until_closed(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while piece := await reader.read(65536):
        yield piece
