"""https-client: --connect-to, --count exit status, SPIFFE server verification, file reload."""

from __future__ import annotations

import logging
import socket
import ssl
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshtool.cli import demo as cli_demo
from meshtool.demo import client, server
from meshtool.workload import source as workload_source

from .demo_pki import CLIENT_ID, SERVER_HOST, Issued, Projection, issue

SERVER_ID = "spiffe://cluster.local/ns/demo/sa/server"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        (
            "server.ns.svc:443:127.0.0.1:8443",
            client.ConnectTo("server.ns.svc", 443, "127.0.0.1", 8443),
        ),
        ("::127.0.0.1:", client.ConnectTo("", None, "127.0.0.1", None)),
        ("[::1]:443:[::1]:8443", client.ConnectTo("::1", 443, "::1", 8443)),
        ("a.svc:443::9443", client.ConnectTo("a.svc", 443, "", 9443)),
    ],
)
def test_connect_to_parses_curl_syntax(text: str, parsed: client.ConnectTo) -> None:
    assert client.ConnectTo.parse(text) == parsed


@pytest.mark.parametrize("text", ["a:443:b", "a:x:b:1", "a:443:b:70000", "a:1:b:2:3"])
def test_connect_to_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        client.ConnectTo.parse(text)


def test_connect_to_applies_only_to_matching_host_and_port() -> None:
    rule = client.ConnectTo.parse("a.svc:443:127.0.0.1:8443")
    assert rule.target("a.svc", 443) == ("127.0.0.1", 8443)
    assert rule.target("a.svc", 80) == ("a.svc", 80)
    assert rule.target("b.svc", 443) == ("b.svc", 443)
    assert client.ConnectTo.parse("::10.0.0.1:").target("b.svc", 443) == ("10.0.0.1", 443)


@pytest.fixture
def files(ca: Issued, tmp_path: Path) -> Projection:
    """The client's own projected directory: trust bundle and credential bundle."""
    proj = Projection(tmp_path / "client")
    proj.write(**{"trust.pem": ca.pem(), "creds.pem": issue(ca, uris=(CLIENT_ID,)).bundle()})
    return proj


def settings_for(port: int, files: Projection, **overrides) -> client.ClientSettings:
    fields = {
        "fetch_url": f"https://{SERVER_HOST}:{port}/spiffe-echo",
        "server_trust_bundle": files.path("trust.pem"),
        "client_cred_bundle": files.path("creds.pem"),
        "connect_to": client.ConnectTo(SERVER_HOST, port, "127.0.0.1", port),
        **overrides,
    }
    return client.ClientSettings(**fields)


@pytest.fixture
def spiffe_mtls_server(ca: Issued, projected: Projection, start_server) -> server.DemoServer:
    leaf = issue(ca, uris=(SERVER_ID,))  # a SPIFFE server certificate: no DNS names at all
    projected.write(**{"creds.pem": leaf.bundle(), "spiffe.pem": ca.pem()})
    return start_server(spiffe_trust_bundle=projected.path("spiffe.pem"))


def test_count_against_a_dead_server_exits_non_zero(files: Projection) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    sleeps: list[float] = []
    settings = settings_for(port, files, count=3, interval=7.0)
    assert client.run(settings, sleep=sleeps.append) == 1
    assert sleeps == [7.0, 7.0]


def test_server_spiffe_id_is_verified_instead_of_the_host_name(
    spiffe_mtls_server: server.DemoServer, files: Projection
) -> None:
    port = spiffe_mtls_server.server_address[1]
    good = settings_for(port, files, server_spiffe_id=SERVER_ID, count=2)
    assert client.run(good, sleep=lambda _: None) == 0
    source = client.tls_source(good)
    source.refresh()
    assert client.fetch(good, source.current()).body == f"Client Identity: {CLIENT_ID}\n"


def test_server_spiffe_id_mismatch_fails(
    spiffe_mtls_server: server.DemoServer, files: Projection, caplog
) -> None:
    port = spiffe_mtls_server.server_address[1]
    other = "spiffe://cluster.local/ns/demo/sa/other"
    wrong = settings_for(port, files, server_spiffe_id=other, count=1)
    assert client.run(wrong, sleep=lambda _: None) == 1
    assert "spiffe://cluster.local/ns/demo/sa/server is not an allowed server" in caplog.text


def test_host_name_verification_fails_for_a_spiffe_only_server(
    spiffe_mtls_server: server.DemoServer, files: Projection
) -> None:
    settings = settings_for(spiffe_mtls_server.server_address[1], files, count=1)
    assert client.run(settings, sleep=lambda _: None) == 1


def test_rotated_client_credentials_are_used_for_the_next_request(
    ca: Issued, spiffe_mtls_server: server.DemoServer, files: Projection, caplog
) -> None:
    settings = settings_for(
        spiffe_mtls_server.server_address[1], files, server_spiffe_id=SERVER_ID, count=2
    )
    next_id = "spiffe://cluster.local/ns/demo/sa/next"
    caplog.set_level(logging.INFO)

    def rotate(_: float) -> None:
        files.write(**{"trust.pem": ca.pem(), "creds.pem": issue(ca, uris=(next_id,)).bundle()})

    assert client.run(settings, sleep=rotate) == 0
    assert f"200 Client Identity: {CLIENT_ID}" in caplog.text
    assert f"200 Client Identity: {next_id}" in caplog.text


def test_cli_https_client_with_count(
    spiffe_mtls_server: server.DemoServer, files: Projection
) -> None:
    port = spiffe_mtls_server.server_address[1]
    args = [
        "--fetch-url", f"https://{SERVER_HOST}:{port}/spiffe-echo",
        "--server-trust-bundle", files.path("trust.pem"),
        "--client-cred-bundle", files.path("creds.pem"),
        "--server-spiffe-id", SERVER_ID,
        "--connect-to", f"{SERVER_HOST}:{port}:127.0.0.1:{port}",
        "--count", "1",
    ]  # fmt: skip
    assert CliRunner().invoke(cli_demo.https_client, args).exit_code == 0
    bad = [*args[:-4], "--connect-to", "nonsense", "--count", "1"]
    result = CliRunner().invoke(cli_demo.https_client, bad)
    assert result.exit_code == 2
    assert "HOST:PORT:ADDR:PORT" in result.output


def test_cli_demo_server_flag_rules() -> None:
    runner = CliRunner()
    lone = runner.invoke(
        cli_demo.demo_server, ["--server-creds", "x", "--spiffe-trust-bundle", "y"]
    )
    assert lone.exit_code == 2
    bad_id = ["--server-creds", "x", "--enable-spiffe-client-support", "--allowed-client-id", "x"]
    assert runner.invoke(cli_demo.demo_server, bad_id).exit_code == 2
    assert cli_demo.parse_listen(":8443") == ("", 8443)
    assert cli_demo.parse_listen("[::1]:8443") == ("::1", 8443)


def test_poll_refreshes_until_stopped(files: Projection) -> None:
    source = workload_source.Source(
        files=workload_source.fixed({"trust": files.path("trust.pem")}),
        build=_count_builds,
        label="trust.pem",
    )

    class StopAfterTwo:
        def __init__(self) -> None:
            self.waits = 0

        def wait(self, timeout: float) -> bool:
            self.waits += 1
            return self.waits > 2

    stop = StopAfterTwo()
    workload_source.poll([source], interval=0.5, stop=stop)  # type: ignore[arg-type]
    assert stop.waits == 3
    assert source.current() is not None


def _count_builds(snaps):
    return workload_source.Loaded(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), "test")
