"""Watches over the lean path against a real loopback server: lines across chunks, errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import httpx2
import pytest
import pytest_asyncio

from meshtool.kube import errors, http1
from meshtool.kube.authheader import AuthHeader
from meshtool.kube.client import KubeClient
from meshtool.kube.config import Connection
from meshtool.kube.resources import PODS

EVENTS = [
    {"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "1"}}},
    {"type": "MODIFIED", "object": {"metadata": {"name": "a", "resourceVersion": "2"}}},
]


def chunked(pieces: list[bytes]) -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n"


@pytest_asyncio.fixture
async def server() -> AsyncIterator[tuple[list[bytes], list[bytes]]]:
    """(answers to send, request heads seen) of a one-answer-per-connection server."""
    answers: list[bytes] = []
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(answers.pop(0))
        await writer.drain()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    answers.append(b"")  # placeholder, replaced by each test
    heads.append(b"%d" % listener.sockets[0].getsockname()[1])
    yield answers, heads
    listener.close()
    await listener.wait_closed()


def client(port: int) -> KubeClient:
    pool = http1.Pool(
        f"http://127.0.0.1:{port}",
        None,
        max_connections=2,
        timeout=5.0,
        connect_timeout=1.0,
        headers={},
    )
    conn = Connection(
        httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}"),
        pool,
        AuthHeader(None, "http://127.0.0.1"),
    )
    return KubeClient.over(conn, None, 1)


async def test_events_split_across_chunks_arrive_whole(
    server: tuple[list[bytes], list[bytes]],
) -> None:
    answers, heads = server
    port = int(heads.pop())
    lines = b"".join(json.dumps(e).encode() + b"\n" for e in EVENTS)
    answers[0] = chunked([lines[:7], lines[7:50], lines[50:], b"\n"])
    kube = client(port)
    seen = [
        (e.type, e.object["metadata"]["resourceVersion"])
        async for e in kube.watch(PODS, resource_version="0", namespace="ns")
    ]
    assert seen == [("ADDED", "1"), ("MODIFIED", "2")]
    assert heads[0].startswith(b"GET /api/v1/namespaces/ns/pods?")
    assert b"watch=1" in heads[0] and b"allowWatchBookmarks=true" in heads[0]
    await kube.aclose()


async def test_an_expired_version_is_gone(server: tuple[list[bytes], list[bytes]]) -> None:
    answers, heads = server
    port = int(heads.pop())
    status = json.dumps({"kind": "Status", "code": 410, "reason": "Expired", "message": "old"})
    answers[0] = b"HTTP/1.1 410 Gone\r\nContent-Length: %d\r\n\r\n%s" % (
        len(status),
        status.encode(),
    )
    kube = client(port)
    with pytest.raises(errors.Gone):
        async for _ in kube.watch(PODS, resource_version="1"):
            pass
    await kube.aclose()


async def test_a_torn_stream_is_a_transport_error(server: tuple[list[bytes], list[bytes]]) -> None:
    answers, heads = server
    port = int(heads.pop())
    answers[0] = b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{"type":'
    kube = client(port)
    with pytest.raises(errors.TransportError, match="lost the connection to the apiserver"):
        async for _ in kube.watch(PODS, resource_version="1"):
            pass
    await kube.aclose()
