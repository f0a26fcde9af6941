"""`processes.free_port`: loopback ports, never the same one twice in a process."""

from __future__ import annotations

import socket

import pytest

from meshtool.testing import processes


def test_ports_are_bindable_and_distinct():
    ports = [processes.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", ports[-1]))


def test_a_port_the_kernel_offers_again_is_skipped(monkeypatch):
    first = processes.free_port()
    offered = iter([first, first, 0])
    real_bind = socket.socket.bind

    def bind(sock, address):
        host, _ = address
        return real_bind(sock, (host, next(offered)))

    monkeypatch.setattr(socket.socket, "bind", bind)
    second = processes.free_port()
    assert second != first


def test_gives_up_after_bounded_attempts(monkeypatch):
    first = processes.free_port()
    real_bind = socket.socket.bind
    monkeypatch.setattr(socket.socket, "bind", lambda sock, a: real_bind(sock, (a[0], first)))
    with pytest.raises(RuntimeError, match="100 tries"):
        processes.free_port()
