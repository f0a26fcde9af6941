"""`/metrics` behind TokenReview + SubjectAccessReview: verdicts, the per-token cache on an
injected clock, its bound, and an unreachable apiserver (503, never cached)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from meshtool.app import health, metricsauth
from meshtool.app.metricsauth import MetricsAuth
from meshtool.clock import FakeClock
from meshtool.controllers.metrics import Metrics
from meshtool.kube import errors, resources

USERS = {"good": "system:serviceaccount:mon:prometheus", "nosy": "system:serviceaccount:x:y"}


class FakeApiserver:
    """Authenticates the tokens in USERS; only the good one may get /metrics."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.down = False

    async def review(self, resource: resources.Resource, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(resource.plural)
        if self.down:
            raise errors.TransportError("POST /apis/x: connection refused")
        if resource == resources.TOKEN_REVIEWS:
            user = USERS.get(body["spec"]["token"])
            if user is None:
                return {"authenticated": False, "error": "invalid bearer token"}
            return {"authenticated": True, "user": {"username": user, "groups": ["g"]}}
        attrs = body["spec"]["nonResourceAttributes"]
        assert attrs == {"path": "/metrics", "verb": "get"}
        return {"allowed": body["spec"]["user"] == USERS["good"]}


@pytest.fixture
def api() -> FakeApiserver:
    return FakeApiserver()


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("Bearer good", "200 OK"),
        ("bearer   good", "200 OK"),
        ("Bearer nosy", "403 Forbidden"),
        ("Bearer garbage", "401 Unauthorized"),
        (None, "401 Unauthorized"),
        ("Basic Z29vZA==", "401 Unauthorized"),
        ("Bearer ", "401 Unauthorized"),
        ("Bearer two words", "401 Unauthorized"),
    ],
)
async def test_verdicts(api, header, status):
    assert (await MetricsAuth(api, FakeClock()).check(header)).status == status


async def test_no_token_asks_nothing(api):
    await MetricsAuth(api, FakeClock()).check(None)
    assert api.calls == []


async def test_answers_are_cached_for_the_ttl_then_asked_again(api):
    clock = FakeClock()
    auth = MetricsAuth(api, clock, ttl=10)
    for _ in range(3):
        assert (await auth.check("Bearer good")).ok
    assert api.calls == ["tokenreviews", "subjectaccessreviews"]
    await auth.check("Bearer garbage")
    await auth.check("Bearer garbage")
    assert api.calls.count("tokenreviews") == 2
    clock.advance(9.9)
    await auth.check("Bearer good")
    assert len(api.calls) == 3
    clock.advance(0.2)
    await auth.check("Bearer good")
    assert api.calls[3:] == ["tokenreviews", "subjectaccessreviews"]


async def test_unreachable_apiserver_is_503_and_not_cached(api):
    auth = MetricsAuth(api, FakeClock())
    api.down = True
    assert (await auth.check("Bearer good")).status == "503 Service Unavailable"
    api.down = False
    assert (await auth.check("Bearer good")).ok


async def test_cache_is_bounded_and_drops_the_oldest(api):
    clock = FakeClock()
    auth = MetricsAuth(api, clock, size=2)
    for token in ("good", "nosy", "garbage"):
        await auth.check(f"Bearer {token}")
    api.calls.clear()
    await auth.check("Bearer garbage")
    await auth.check("Bearer nosy")
    assert api.calls == []
    await auth.check("Bearer good")  # the oldest was dropped
    assert api.calls == ["tokenreviews", "subjectaccessreviews"]


async def test_the_cache_keeps_a_digest_not_the_token(api):
    auth = MetricsAuth(api, FakeClock())
    await auth.check("Bearer good")
    assert len(auth._cache) == 1 and "good" not in repr(auth._cache)


async def test_listener_guards_metrics_but_not_the_probes(api):
    auth = MetricsAuth(api, FakeClock())
    server = health.HealthServer("127.0.0.1:0", lambda: [], Metrics().registry, auth=auth)
    await server.start()

    async def get(path: str, *headers: str) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        head = "".join(f"{h}\r\n" for h in headers)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())
        data = await reader.read()
        writer.close()
        return data

    try:
        assert (await get("/metrics")).startswith(b"HTTP/1.1 401")
        assert (await get("/metrics", "Authorization: Bearer nosy")).startswith(b"HTTP/1.1 403")
        ok = await get("/metrics?x=1", "User-Agent: p", "authorization: Bearer good")
        assert ok.startswith(b"HTTP/1.1 200") and b"# HELP" in ok
        assert (await get("/healthz")).startswith(b"HTTP/1.1 200")
        assert (await get("/readyz")).startswith(b"HTTP/1.1 200")
    finally:
        await server.stop()


def test_bearer_token():
    assert metricsauth.bearer_token("Bearer abc") == "abc"
    assert metricsauth.bearer_token("Token abc") is None
