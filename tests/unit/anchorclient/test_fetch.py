"""The anchors GET against a real local HTTPS server (meshtool.testing.anchorserver)."""

from __future__ import annotations

import pytest

from meshtool.anchorclient import fetch
from meshtool.testing import anchorserver
from meshtool.testing.anchorserver import Answer

PATH = "/.well-known/meshtool/signers/row-major.net/spiffe/anchors.p7c"


@pytest.fixture
def server():
    with anchorserver.serving() as running:
        yield running


async def test_the_body_is_fetched_with_the_server_verified_by_the_ca_file(server) -> None:
    server.answers[PATH] = Answer(b"\x30anchors")
    assert await fetch.get(server.url + PATH, ca_file=server.ca_file) == b"\x30anchors"
    assert server.hits == [PATH]


async def test_an_unknown_server_certificate_fails_tls(server) -> None:
    server.answers[PATH] = Answer(b"x")
    with pytest.raises(fetch.FetchError, match="CERTIFICATE_VERIFY_FAILED"):
        await fetch.get(server.url + PATH)  # the system store does not know the test CA


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (Answer(b"gone", 404), "HTTP 404, expected 200"),
        (Answer(b"", 302, {"Location": "/elsewhere"}), "HTTP 302, expected 200"),
        (Answer(b"x" * 2048), "body of 2048 bytes is over 1024"),
    ],
)
async def test_bad_answers_are_errors_naming_the_url(server, answer, problem) -> None:
    server.answers[PATH] = answer
    with pytest.raises(fetch.FetchError, match=problem) as caught:
        await fetch.get(server.url + PATH, ca_file=server.ca_file, max_bytes=1024)
    assert server.url + PATH in str(caught.value)
    assert "/elsewhere" not in server.hits  # no redirect followed


async def test_a_slow_body_is_cut_at_the_timeout(server) -> None:
    server.answers[PATH] = Answer(b"y" * 160, chunk_delay=0.1)
    with pytest.raises(fetch.FetchError, match=r"no complete answer within 0.3 s"):
        await fetch.get(server.url + PATH, ca_file=server.ca_file, timeout=0.3)


async def test_an_unreadable_ca_file_is_an_error(tmp_path) -> None:
    with pytest.raises(fetch.FetchError, match="cannot load CA file"):
        await fetch.get("https://127.0.0.1:1/x", ca_file=tmp_path / "missing.pem")


async def test_an_unusable_url_is_a_fetch_error() -> None:
    with pytest.raises(fetch.FetchError, match="Invalid port"):
        await fetch.get("https://[::1/x")
