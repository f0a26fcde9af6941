"""Requests that get no HTTP answer fail with a `TransportError` naming the apiserver and the
cause in words, never an httpx2 repr: against a closed loopback port, a listener that hangs up
during the TLS handshake, and for the exception chains httpx2 builds for timeouts."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from meshtool.kube import errors, resources, unreachable
from meshtool.kube.client import KubeClient

from .test_config import write_kubeconfig


@pytest.fixture(params=["close", "reset"])
def hangs_up(request: pytest.FixtureRequest) -> Iterator[int]:
    """A loopback port whose listener closes every connection at once: a plain close (FIN),
    or a reset (RST, as a close with our ClientHello still unread in its buffer sends)."""
    listener = socket.create_server(("127.0.0.1", 0))
    linger = struct.pack("ii", 1, 0) if request.param == "reset" else None

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if linger is not None:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()


async def failure(tmp_path: Path, server: str) -> str:
    path = write_kubeconfig(tmp_path / "kc", {"a": server}, "a")
    async with KubeClient.from_kubeconfig(path) as kube:
        with pytest.raises(errors.TransportError) as raised:
            await kube.get(resources.SECRETS, "s", namespace="ns")
    return str(raised.value)


async def test_a_closed_port_is_connection_refused(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        server = f"https://127.0.0.1:{sock.getsockname()[1]}"
    assert await failure(tmp_path, server) == (
        f"cannot reach the apiserver {server}: connection refused "
        "(GET /api/v1/namespaces/ns/secrets/s)"
    )


async def test_a_hang_up_during_tls_is_a_failed_handshake(tmp_path: Path, hangs_up: int) -> None:
    server = f"https://127.0.0.1:{hangs_up}"
    message = await failure(tmp_path, server)
    assert message.startswith(f"cannot reach the apiserver {server}: TLS handshake failed (")
    assert "Error(" not in message


def test_timeouts_and_causes_are_named_in_words() -> None:
    request = httpx2.Request("GET", "https://a:6443/api")

    def chained(exc: httpx2.HTTPError, cause: BaseException) -> httpx2.HTTPError:
        exc.__cause__ = cause
        return exc

    cases = {
        "cannot reach the apiserver https://a:6443: timed out (GET /api)": httpx2.ConnectTimeout(
            "", request=request
        ),
        "the apiserver https://a:6443 did not answer in time (GET /api)": httpx2.ReadTimeout(
            "", request=request
        ),
        "cannot reach the apiserver https://a:6443: its TLS certificate is not trusted "
        "(unable to get local issuer certificate) (GET /api)": chained(
            httpx2.ConnectError("", request=request), _unverified()
        ),
        "lost the connection to the apiserver https://a:6443: connection reset by peer "
        "(GET /api)": chained(
            httpx2.ReadError("", request=request),
            ConnectionResetError(104, "Connection reset by peer"),
        ),
    }
    for expected, exc in cases.items():
        assert unreachable.describe(exc, server="https://a:6443", what="GET /api") == expected


def _unverified() -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_message = "unable to get local issuer certificate"
    return exc
