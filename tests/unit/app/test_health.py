"""The health endpoint's routes, and a real listener answering probes."""

from __future__ import annotations

import asyncio

import pytest

from meshtool.app import health
from meshtool.controllers.metrics import Metrics

REGISTRY = Metrics().registry


def test_routes():
    assert health.route("/healthz", lambda: ["broken"], REGISTRY).startswith(b"HTTP/1.1 200")
    ready = health.route("/readyz", lambda: [], REGISTRY)
    assert ready.startswith(b"HTTP/1.1 200")
    not_ready = health.route(
        "/readyz", lambda: ["CA pool for x: corrupt", "caches not synced"], REGISTRY
    )
    assert not_ready.startswith(b"HTTP/1.1 503")
    assert b"CA pool for x: corrupt\ncaches not synced" in not_ready
    assert b"# HELP" in health.route("/metrics", lambda: [], REGISTRY)
    assert health.route("/nope", lambda: [], REGISTRY).startswith(b"HTTP/1.1 404")


@pytest.mark.parametrize(
    ("address", "expected"),
    [(":8080", ("0.0.0.0", 8080)), ("127.0.0.1:0", ("127.0.0.1", 0)), ("[::1]:9", ("::1", 9))],
)
def test_addresses(address, expected):
    assert health.split_address(address) == expected


def test_bad_address_names_the_flag():
    with pytest.raises(ValueError, match="--health-address"):
        health.split_address("localhost")


async def test_listener_answers_readiness():
    problems: list[str] = ["informer caches are not synced yet"]
    server = health.HealthServer("127.0.0.1:0", lambda: problems, REGISTRY)
    await server.start()
    try:

        async def get(path: str) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            data = await reader.read()
            writer.close()
            return data

        assert (await get("/readyz")).startswith(b"HTTP/1.1 503")
        problems.clear()
        assert (await get("/readyz")).startswith(b"HTTP/1.1 200")
    finally:
        await server.stop()


async def test_metrics_count_the_event_loops_tasks():
    metrics = Metrics()
    metrics.count_tasks(asyncio.get_running_loop())

    def scraped() -> float:
        text = health.route("/metrics", lambda: [], metrics.registry).decode()
        line = next(x for x in text.splitlines() if x.startswith("meshtool_asyncio_tasks "))
        return float(line.split()[1])

    before = scraped()
    tasks = [asyncio.create_task(asyncio.sleep(60)) for _ in range(3)]
    assert scraped() == before + 3
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert scraped() == before


def test_healthz_carries_the_reports_and_stays_200():
    answer = health.route("/healthz", list, REGISTRY, lambda: ["bundle endpoint: no SVID"])
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok\nbundle endpoint: no SVID\n")
