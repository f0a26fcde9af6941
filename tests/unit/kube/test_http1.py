"""The lean HTTP/1.1 pool against real loopback servers: framing, keep-alive, resend, limits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx2
import pytest
import pytest_asyncio
from lightkube.config.client_adapter import BearerTokenFileAuth

from meshtool.kube import errors, http1
from meshtool.kube.authheader import AuthHeader

Handler = Callable[[bytes, int], bytes | None]
"""(request head, index of the request on its connection) -> raw answer, or None to hang up."""


class Server:
    def __init__(self, handler: Handler) -> None:
        self.handler, self.connections, self.heads = handler, 0, list[bytes]()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        index = 0
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                await reader.readexactly(length)
                self.heads.append(head)
                answer = self.handler(head, index)
                index += 1
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


Start = Callable[[Handler], Awaitable[tuple["Server", http1.Pool]]]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Start]:
    servers: list[asyncio.Server] = []
    pools: list[http1.Pool] = []

    async def start(handler: Handler) -> tuple[Server, http1.Pool]:
        state = Server(handler)
        server = await asyncio.start_server(state.serve, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        pool = http1.Pool(
            f"http://127.0.0.1:{port}",
            None,
            max_connections=4,
            timeout=5.0,
            connect_timeout=1.0,
            headers={"User-Agent": "test"},
        )
        pools.append(pool)
        return state, pool

    yield start
    for pool in pools:
        await pool.aclose()
    for server in servers:
        server.close()
        await server.wait_closed()


def ok(body: bytes, *extra: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), b"".join(extra), body)


async def test_content_length_and_keep_alive(serve: Start) -> None:
    state, pool = await serve(lambda head, i: ok(b'{"n": %d}' % i))
    answers = [await pool.request("GET", "/a", params={"x": "a b"}) for _ in range(3)]
    assert [a.body for a in answers] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert state.connections == 1
    assert state.heads[0].startswith(b"GET /a?x=a+b HTTP/1.1\r\nHost: 127.0.0.1:")


async def test_chunked_answers_are_joined(serve: Start) -> None:
    chunked = (
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"
    )
    _, pool = await serve(lambda head, i: chunked)
    answer = await pool.request("PUT", "/p", body=b"{}")
    assert (answer.status, answer.body) == (201, b"abcde")
    assert (await pool.request("GET", "/p")).body == b"abcde"


async def test_connection_close_is_honoured(serve: Start) -> None:
    state, pool = await serve(lambda head, i: ok(b"x", b"Connection: close\r\n"))
    await pool.request("GET", "/")
    await pool.request("GET", "/")
    assert state.connections == 2


async def test_a_stale_idle_connection_is_resent_once_except_post(serve: Start) -> None:
    # Answers once per connection, then hangs up on the next request without a byte.
    state, pool = await serve(lambda head, i: ok(b"y") if i == 0 else None)
    await pool.request("GET", "/")
    assert (await pool.request("PUT", "/", body=b"{}")).body == b"y"
    assert state.connections == 2
    with pytest.raises(http1.NoAnswer) as failure:
        await pool.request("POST", "/", body=b"{}")
    assert not failure.value.connect and state.connections == 2


async def test_a_silent_server_times_out(serve: Start) -> None:
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(never, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = http1.Pool(
        f"http://127.0.0.1:{port}",
        None,
        max_connections=1,
        timeout=0.2,
        connect_timeout=1.0,
        headers={},
    )
    with pytest.raises(http1.NoAnswer) as failure:
        await pool.request("GET", "/")
    assert failure.value.timed_out and not failure.value.connect
    server.close()
    await server.wait_closed()


async def test_nothing_listening_is_a_connect_failure() -> None:
    pool = http1.Pool(
        "http://127.0.0.1:9", None, max_connections=1, timeout=1.0, connect_timeout=1.0, headers={}
    )
    with pytest.raises(http1.NoAnswer) as failure:
        await pool.request("GET", "/")
    assert failure.value.connect
    assert isinstance(failure.value.__cause__, ConnectionRefusedError)


async def test_in_flight_requests_are_bounded(serve: Start) -> None:
    state, pool = await serve(lambda head, i: ok(b"z"))
    await asyncio.gather(*(pool.request("GET", "/") for _ in range(20)))
    assert len(state.heads) == 20 and state.connections <= 4


async def test_auth_header_rereads_a_token_file_after_401(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("one\n")
    auth = AuthHeader(BearerTokenFileAuth(str(token)), "https://k8s")
    assert await auth.value() == "Bearer one"
    token.write_text("two\n")
    assert await auth.value() == "Bearer one"  # cached until the server says 401
    assert await auth.refresh()
    assert await auth.value() == "Bearer two"


async def test_auth_header_without_credentials_or_refresh() -> None:
    assert await AuthHeader(None, "https://k8s").value() is None
    assert not await AuthHeader(None, "https://k8s").refresh()

    class Static(httpx2.Auth):
        def auth_flow(self, request: httpx2.Request):  # type: ignore[no-untyped-def]
            request.headers["Authorization"] = "Bearer s"
            yield request

    static = AuthHeader(Static(), "https://k8s")
    assert await static.value() == "Bearer s"
    assert not await static.refresh()


async def test_send_if_is_asked_with_a_connection_in_hand(serve: Start) -> None:
    """Requests waiting for one of the 4 connections when the answer turns to no are withdrawn:
    never sent, and the connection they were handed goes back to the pool."""
    allowed = {"now": True}

    def answer(head: bytes, i: int) -> bytes:
        allowed["now"] = False  # the first request reached the server: the rest lose the right
        return ok(b"w")

    state, pool = await serve(answer)
    results = await asyncio.gather(
        *(pool.request("PUT", "/", body=b"{}", send_if=lambda: allowed["now"]) for _ in range(8)),
        return_exceptions=True,
    )
    withdrawn = [r for r in results if isinstance(r, errors.Withdrawn)]
    assert len(withdrawn) >= 4 and len(state.heads) == 8 - len(withdrawn)
    allowed["now"] = True
    assert (await pool.request("PUT", "/", body=b"{}", send_if=lambda: True)).body == b"w"
    assert state.connections <= 4
