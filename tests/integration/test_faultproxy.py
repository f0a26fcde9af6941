"""The fault suite's toxiproxy wrapper against a real toxiproxy-server and a loopback echo server:
a server whose control API stops answering is restarted on the same ports, without toxics, and
forwards again; an error that is not a wedge still raises."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshtool.testing.faultproxy import FaultProxy, ProxyApiError, Toxic
from meshtool.testing.pytest_plugin import running_fault_proxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo: str, tmp_path: Path) -> Iterator[FaultProxy]:
    with running_fault_proxy(echo, tmp_path) as the_proxy:
        yield the_proxy


def _round_trip(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"ping")
        return conn.recv(16)


def _thread_states(pid: int) -> str:
    """The kernel's state letter of each of the process's threads ("T": stopped)."""
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        with contextlib.suppress(OSError):  # a thread that just exited
            states.append(stat.read_text().rpartition(")")[2].split()[0])
    return "".join(sorted(states))


def _stop(pid: int) -> None:
    """SIGSTOP the group and wait (bounded) until the kernel shows every thread stopped."""
    os.killpg(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while set(_thread_states(pid)) - {"T", "t"}:
        assert time.monotonic() < deadline, f"pid {pid} not stopped: {_thread_states(pid)}"
        time.sleep(0.05)


def test_a_wedged_control_api_gets_a_fresh_server_on_the_same_ports(proxy: FaultProxy):
    ports = (proxy.api_port, proxy.port)
    proxy.add("slow", Toxic("latency", attributes={"latency": 10}))
    assert proxy.child is not None
    old_pid = proxy.child.pid
    proxy.api_timeout = 2.0
    _stop(old_pid)  # the control API no longer answers, like the lock wedge

    proxy.reset()

    assert proxy.restarts == 1, f"reset answered; threads of {old_pid}: {_thread_states(old_pid)}"
    assert proxy.child.pid != old_pid and (proxy.api_port, proxy.port) == ports
    assert proxy.toxics() == []
    assert _round_trip(proxy.port) == b"ping"


def test_an_answered_error_is_not_taken_for_a_wedge(proxy: FaultProxy):
    with pytest.raises(ProxyApiError, match="toxiproxy POST /proxies/apiserver/toxics: 4"):
        proxy.add("bogus", Toxic("no-such-toxic"))
    proxy.reset()
    assert proxy.restarts == 0
    assert _round_trip(proxy.port) == b"ping"
