"""The per-source state machine of the kubelet simulator, against a fake host and clock."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from meshtool.clock import FakeClock
from meshtool.kube import errors
from meshtool.testing import podcerts, volumes
from meshtool.testing.podcerts import Condition, Phase, Projection

CHAIN = volumes.certificate_pem(b"\x30\x03\x02\x01\x01")
POD = {"metadata": {"namespace": "ns", "name": "app", "uid": "pod-uid"}}
SOURCE = {"signerName": "e.com/s", "keyType": "ED25519", "credentialBundlePath": "b.pem"}


def wire(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeHost:
    tick = 0.005

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.pcrs: dict[str, dict[str, Any]] = {}
        self.rendered = 0
        self.terminals: list[Condition] = []
        self.create_failures = 0
        self.created = 0

    def jitter(self) -> dt.timedelta:
        return dt.timedelta(0)

    async def create_pcr(self, pod: Any, source: Any, key: Any) -> dict[str, Any]:
        if self.create_failures:
            self.create_failures -= 1
            raise errors.ServerError(500, {"message": "informer lag"})
        name = f"req-{self.created}"
        self.created += 1
        meta = {"name": name, "creationTimestamp": wire(self.clock.now())}
        self.pcrs[name] = {"metadata": meta}
        return self.pcrs[name]

    def cached_pcr(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.pcrs.get(name)

    async def wait_change(self, timeout: float) -> None:
        await asyncio.sleep(min(timeout, self.tick))

    def credentials_changed(self, projection: Projection) -> None:
        self.rendered += 1

    def terminal(self, projection: Projection, condition: Condition) -> None:
        self.terminals.append(condition)

    def issue(self, name: str, begin_refresh_in: dt.timedelta) -> None:
        now = self.clock.now()
        self.pcrs[name]["status"] = {
            "conditions": [{"type": "Issued", "status": "True", "reason": "R", "message": ""}],
            "certificateChain": "junk\n" + CHAIN.decode(),
            "notBefore": wire(now),
            "beginRefreshAt": wire(now + begin_refresh_in),
            "notAfter": wire(now + 2 * begin_refresh_in),
        }

    def refuse(self, name: str, kind: str) -> None:
        cond = {"type": kind, "status": "True", "reason": "Nope", "message": "no"}
        self.pcrs[name]["status"] = {"conditions": [cond]}


async def until(predicate: Any) -> None:
    async with asyncio.timeout(5):
        while not predicate():
            await asyncio.sleep(0.001)


@contextlib.asynccontextmanager
async def started(
    create_failures: int = 0,
) -> AsyncIterator[tuple[FakeHost, Projection, asyncio.Task[None]]]:
    host = FakeHost()
    host.create_failures = create_failures
    projection = Projection(host, POD, volume="certs", index=0, source=dict(SOURCE))
    task = asyncio.create_task(projection.run())
    try:
        yield host, projection, task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_issue_then_refresh_when_the_clock_says_so():
    async with started() as (host, projection, _):
        await until(lambda: "req-0" in host.pcrs)
        assert projection.files() is None
        host.issue("req-0", dt.timedelta(hours=1))
        await until(lambda: projection.phase is Phase.ISSUED)
        files = projection.files()
        assert files is not None and files["b.pem"].endswith(CHAIN)
        assert files["b.pem"].startswith(b"-----BEGIN PRIVATE KEY-----")
        assert host.rendered == 1
        await asyncio.sleep(0.05)
        assert "req-1" not in host.pcrs  # not due yet
        host.clock.advance(3600)
        await until(lambda: "req-1" in host.pcrs)
        assert projection.files() == files  # old credentials served meanwhile
        host.issue("req-1", dt.timedelta(hours=1))
        await until(lambda: projection.issued_count == 2)
        assert projection.files() != files
        assert projection.status().pcr_names == ("req-0", "req-1")


async def test_request_refresh_is_immediate():
    async with started() as (host, projection, _):
        await until(lambda: "req-0" in host.pcrs)
        host.issue("req-0", dt.timedelta(hours=1))
        await until(lambda: projection.phase is Phase.ISSUED)
        projection.request_refresh()
        await until(lambda: "req-1" in host.pcrs)


@pytest.mark.parametrize("kind", ["Denied", "Failed"])
async def test_refusal_is_permanent(kind):
    async with started() as (host, projection, task):
        await until(lambda: "req-0" in host.pcrs)
        host.refuse("req-0", kind)
        await asyncio.wait_for(task, 5)
        status = projection.status()
        assert status.phase is Phase(kind)
        assert status.condition == Condition(kind, "Nope", "no")
        assert host.terminals == [status.condition]
        assert projection.files() is None


async def test_vanished_request_is_recreated_after_the_abandon_threshold():
    async with started() as (host, _, _):
        await until(lambda: "req-0" in host.pcrs)
        del host.pcrs["req-0"]
        host.clock.advance(podcerts.ABANDON_AFTER.total_seconds() - 1)
        await asyncio.sleep(0.05)
        assert len(host.pcrs) == 0
        host.clock.advance(1)
        await until(lambda: "req-1" in host.pcrs)


async def test_failed_creates_are_retried_and_reported():
    async with started(create_failures=1) as (host, projection, _):
        await until(lambda: projection.last_error is not None)
        assert "informer lag" in str(projection.status().last_error)
        await until(lambda: "req-0" in host.pcrs)
        assert projection.status().last_error is None
