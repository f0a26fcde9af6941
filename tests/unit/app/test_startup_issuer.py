"""Resolving --cluster-issuer: the retry discipline of discovery, with a stand-in get_path.

The real apiserver's answer is the integration test's (test_issuer_in_certificates.py)."""

from __future__ import annotations

from typing import cast

import pytest

from meshtool.app import startup
from meshtool.clock import FakeClock
from meshtool.kube import errors
from meshtool.kube.client import KubeClient

DOCUMENT = {"issuer": "https://kubernetes.default.svc.cluster.local"}


class Discovery:
    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.paths: list[str] = []

    async def get_path(self, path: str) -> object:
        self.paths.append(path)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def resolve(client: Discovery, setting: str, *, clock: FakeClock) -> str | None:
    return await startup.cluster_issuer(cast(KubeClient, client), setting, clock=clock)


async def test_discover_reads_the_issuer_from_openid_configuration() -> None:
    client = Discovery(DOCUMENT)
    found = await resolve(client, "discover", clock=FakeClock())
    assert found == DOCUMENT["issuer"]
    assert client.paths == ["/.well-known/openid-configuration"]


async def test_a_url_or_none_needs_no_request() -> None:
    client = Discovery()
    clock = FakeClock()
    assert await resolve(client, "https://i.example", clock=clock) == "https://i.example"
    assert await resolve(client, "none", clock=clock) is None
    assert client.paths == []


async def test_transient_trouble_is_retried_with_backoff_on_the_clock() -> None:
    clock = FakeClock()
    start = clock.monotonic()
    client = Discovery(
        errors.TransportError("connection refused"),
        errors.ServerError(503, {"message": "starting"}),
        DOCUMENT,
    )
    found = await resolve(client, "discover", clock=clock)
    assert found == DOCUMENT["issuer"]
    assert clock.monotonic() - start == pytest.approx(0.5 + 1.0)


async def test_retries_are_bounded() -> None:
    clock = FakeClock()
    client = Discovery(*[errors.TransportError("refused")] * startup.ISSUER_ATTEMPTS)
    with pytest.raises(
        startup.StartupError, match=r"cannot discover the cluster issuer \(8 tries\)"
    ):
        await resolve(client, "discover", clock=clock)
    assert len(client.paths) == startup.ISSUER_ATTEMPTS


async def test_a_refusal_names_the_binding_and_the_flag() -> None:
    client = Discovery(errors.Forbidden(403, {"message": "forbidden"}))
    with pytest.raises(startup.StartupError, match="system:service-account-issuer-discovery"):
        await resolve(client, "discover", clock=FakeClock())
    assert len(client.paths) == 1


async def test_a_plain_http_issuer_in_the_document_stops_the_start() -> None:
    client = Discovery({"issuer": "http://insecure"})
    with pytest.raises(startup.StartupError, match=r"not an https URL.*--cluster-issuer"):
        await resolve(client, "discover", clock=FakeClock())
