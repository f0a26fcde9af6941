"""Fixtures: a CA per key type, a projected directory, an in-process demo server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshtool.demo import server

from .demo_pki import Issued, Projection, make_ca


@pytest.fixture(params=["ed25519", "ecdsa"])
def ca_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ca(ca_kind: str) -> Issued:
    return make_ca(f"demo {ca_kind} CA", ca_kind)


@pytest.fixture
def projected(tmp_path: Path) -> Projection:
    return Projection(tmp_path / "server")


@pytest.fixture
def start_server(projected: Projection) -> Iterator[Any]:
    """Start a DemoServer on 127.0.0.1:0 in a thread; stopped at teardown."""
    running: list[tuple[server.DemoServer, threading.Thread]] = []

    def start(**overrides: Any) -> server.DemoServer:
        fields: dict[str, Any] = {"spiffe_trust_bundle": None, **overrides}
        settings = server.ServerSettings(
            listen=("127.0.0.1", 0), server_creds=projected.path("creds.pem"), **fields
        )
        srv = server.DemoServer(settings)
        thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        running.append((srv, thread))
        return srv

    yield start
    for srv, thread in running:
        srv.shutdown()
        thread.join()
        srv.server_close()
