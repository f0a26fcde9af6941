"""The example workloads (`meshtool demo-server`, `meshtool https-client`) run on a SPIFFE
credential folder, as two federated clusters' pods would run them.

`start_server` runs demo-server on a free loopback port with `--credential-folder` and SPIFFE
client support, accepting exactly the given client SPIFFE IDs; `call` runs https-client once
against it (`--connect-to` maps the server's Service name to that port, so SNI and the Host header
stay what they would be in the cluster) with its own credential folder and the server's expected
SPIFFE ID. Both verify the peer with the bundle of the peer's own trust domain from their folder,
which is the point of the exercise. `call` returns the exit code and output; it never raises for
a refused call, so a caller can assert on the refusal's message. Every run is bounded in time.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from meshtool.testing import processes

CALL_TIMEOUT = 60.0
LISTEN_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Server:
    host: str
    """The name clients dial (a Service name in the cluster; mapped to loopback here)."""
    port: int
    child: processes.Child

    def stop(self) -> None:
        self.child.stop()


@dataclass(frozen=True, slots=True)
class CallResult:
    code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def echoed(self) -> list[str]:
        """The client identities the server echoed."""
        marker = "Client Identity:"
        lines = self.output.splitlines()
        return [line.split(marker, 1)[1].strip() for line in lines if marker in line]


async def start_server(
    *, host: str, folder: Path, allowed_clients: Sequence[str], log: Path
) -> Server:
    port = processes.free_port()
    args = [
        *("demo-server", "--listen", f"127.0.0.1:{port}", "--credential-folder", str(folder)),
        "--enable-spiffe-client-support",
        *[arg for client in allowed_clients for arg in ("--allowed-client-id", client)],
    ]
    child = processes.Child(f"server-{host}", [sys.executable, "-m", "meshtool", *args], log)
    try:
        await _wait_listening(child, port)
    except BaseException:
        child.stop()
        raise
    return Server(host, port, child)


async def call(
    server: Server, *, folder: Path, server_id: str, count: int = 1, path: str = "/spiffe-echo"
) -> CallResult:
    """https-client from `folder` to `server`, which must prove to be `server_id`."""
    args = [
        *("https-client", "--fetch-url", f"https://{server.host}{path}"),
        *("--credential-folder", str(folder), "--server-spiffe-id", server_id),
        *("--connect-to", f"{server.host}:443:127.0.0.1:{server.port}"),
        *("--count", str(count), "--interval", "0.2"),
    ]
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "meshtool", *args],
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=CALL_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return CallResult(proc.returncode or 0, out.decode(errors="replace"))


async def _wait_listening(child: processes.Child, port: int) -> None:
    deadline = time.monotonic() + LISTEN_TIMEOUT
    while not await asyncio.to_thread(_accepts, port):
        if not child.alive:
            raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{child.name} not listening after {LISTEN_TIMEOUT:.0f}s")
        await asyncio.sleep(0.1)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
