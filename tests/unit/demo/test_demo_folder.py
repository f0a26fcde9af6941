"""demo-server and https-client on SPIFFE credential folders, with peers in two trust domains."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshtool.cli import demo as cli_demo
from meshtool.demo import client, server

from .demo_pki import SERVER_HOST, Issued, Projection, issue, make_ca

A, B = "a.example", "b.example"
SERVER_ID = f"spiffe://{A}/ns/demo/sa/server"
FRIEND, STRANGER = f"spiffe://{A}/ns/demo/sa/friend", f"spiffe://{A}/ns/demo/sa/stranger"
PEER = f"spiffe://{B}/ns/demo/sa/peer"
CRED, TRUST = "credential-bundle.pem", ".spiffe-trust-bundle.pem"


@pytest.fixture
def cas(ca_kind: str) -> dict[str, Issued]:
    return {td: make_ca(f"{td} CA", ca_kind) for td in (A, B)}


@pytest.fixture
def folder_server(
    tmp_path: Path, cas: dict[str, Issued], ca_kind: str
) -> Iterator[server.DemoServer]:
    files = Projection(tmp_path / "server")
    files.write(
        **{
            CRED: issue(cas[A], uris=(SERVER_ID,), kind=ca_kind).bundle(),
            A + TRUST: cas[A].pem(),
            B + TRUST: cas[B].pem(),
        }
    )
    settings = server.ServerSettings(
        listen=("127.0.0.1", 0),
        credential_folder=str(files.root),
        enable_spiffe_client_support=True,
        allowed_client_ids=frozenset({FRIEND}),
        allowed_client_trust_domains=frozenset({B}),
    )
    srv = server.DemoServer(settings)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield srv
    srv.shutdown()
    thread.join()
    srv.server_close()


def client_folder(root: Path, svid: Issued, cas: dict[str, Issued]) -> str:
    """A client's folder: its SVID and the bundle of the server's trust domain, A."""
    Projection(root).write(**{CRED: svid.bundle(), A + TRUST: cas[A].pem()})
    return str(root)


def echo(port: int, folder: str) -> client.Response:
    settings = client.ClientSettings(
        fetch_url=f"https://{SERVER_HOST}:{port}/spiffe-echo",
        credential_folder=folder,
        server_spiffe_id=SERVER_ID,
        connect_to=client.ConnectTo(SERVER_HOST, port, "127.0.0.1", port),
    )
    source = client.tls_source(settings)
    assert source.refresh()
    return client.fetch(settings, source.current())


@pytest.mark.parametrize(
    ("spiffe_id", "td", "status"), [(FRIEND, A, 200), (PEER, B, 200), (STRANGER, A, 401)]
)
def test_allowed_peers_in_two_trust_domains(
    folder_server: server.DemoServer,
    cas: dict[str, Issued],
    tmp_path: Path,
    spiffe_id: str,
    td: str,
    status: int,
) -> None:
    folder = client_folder(tmp_path / "client", issue(cas[td], uris=(spiffe_id,)), cas)
    resp = echo(folder_server.server_address[1], folder)
    assert resp.status == status
    if status == 200:
        assert resp.body == f"Client Identity: {spiffe_id}\n"
    else:
        assert resp.body == f"unauthorized: {spiffe_id} is not an allowed client\n"


def test_a_peer_of_b_signed_by_as_ca_is_refused(
    folder_server: server.DemoServer, cas: dict[str, Issued], tmp_path: Path
) -> None:
    folder = client_folder(tmp_path / "client", issue(cas[A], uris=(PEER,)), cas)
    resp = echo(folder_server.server_address[1], folder)
    assert resp.status == 401
    assert f"the chain does not verify against the bundle of trust domain {B!r}" in resp.body


def test_a_folder_client_has_nothing_to_dial_without_the_servers_bundle(
    cas: dict[str, Issued], tmp_path: Path
) -> None:
    files = Projection(tmp_path / "client")
    creds = issue(cas[B], uris=(PEER,)).bundle()
    files.write(**{CRED: creds, A + TRUST: cas[A].pem(), B + TRUST: cas[B].pem()})
    settings = client.ClientSettings(
        fetch_url=f"https://{SERVER_HOST}:1/spiffe-echo",
        credential_folder=str(files.root),
        server_spiffe_id=SERVER_ID,
    )
    source = client.tls_source(settings)
    assert source.refresh()
    source.current()
    files.write(**{CRED: creds, B + TRUST: cas[B].pem()})  # A de-federated (its link dangles)
    assert source.refresh()  # good files, but no bundle for A, the server's trust domain
    with pytest.raises(ValueError, match=f"no trust bundle for trust domain {A!r}"):
        source.current()


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        (cli_demo.demo_server, ["--server-creds", "x", "--credential-folder", "d"], "exclude"),
        (cli_demo.demo_server, ["--credential-folder", "d", "--spiffe-trust-bundle", "b"], "needs"),
        (
            cli_demo.https_client,
            ["--fetch-url", "https://h/", "--credential-folder", "d"],
            "needs --server-spiffe-id",
        ),
        (
            cli_demo.https_client,
            ["--fetch-url", "https://h/", "--client-cred-bundle", "c", "--server-spiffe-id", PEER],
            "--client-cred-bundle needs --server-trust-bundle",
        ),
    ],
)
def test_cli_folder_flag_rules(command, args: list[str], message: str) -> None:
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_discovers_the_folder_from_the_environment(
    folder_server: server.DemoServer, cas: dict[str, Issued], tmp_path: Path
) -> None:
    port = folder_server.server_address[1]
    folder = client_folder(tmp_path / "client", issue(cas[B], uris=(PEER,)), cas)
    args = [
        "--fetch-url", f"https://{SERVER_HOST}:{port}/spiffe-echo",
        "--server-spiffe-id", SERVER_ID,
        "--connect-to", f"{SERVER_HOST}:{port}:127.0.0.1:{port}",
        "--count", "1",
    ]  # fmt: skip
    env = {"SPIFFE_CREDENTIAL_FOLDER": folder}
    assert CliRunner().invoke(cli_demo.https_client, args, env=env).exit_code == 0
