"""Flags are checked before anything is dialled: each bad value ends the real command (the
`meshtool` root, through click's runner) at once with status 2 and one line naming the flag.
The controller's kubeconfig points at a closed port, so a check that ran after connecting would
show up as "cannot reach the apiserver" (status 1) instead."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshtool.cli import root

PREFIX = "meshtool: error: "


@pytest.fixture
def unreachable(tmp_path: Path) -> Path:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "kubeconfig"
    path.write_text(
        f"clusters:\n- name: c\n  cluster: {{server: 'https://127.0.0.1:{port}'}}\n"
        "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n"
    )
    return path


def refused(*args: str) -> str:
    """The one stderr line of a command that must exit 2 (bad usage)."""
    result = CliRunner().invoke(root, list(args), env={}, prog_name="meshtool")
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith(PREFIX), result.stderr
    return lines[0].removeprefix(PREFIX)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--health-address", ":99999"], "--health-address ':99999': port 99999 is not in 1-65535"),
        (["--health-address", ":0"], "--health-address ':0': port 0 is not in 1-65535"),
        (["--health-address", "nonsense"], "--health-address 'nonsense' is not HOST:PORT or :PORT"),
        (["--identity-mismatch-grace", "-5"], "--identity-mismatch-grace must not be negative"),
        (["--ca-removal-delay", "-1"], "--ca-removal-delay must not be negative"),
        (
            ["--spiffe-trust-domain", "BAD DOMAIN"],
            "--spiffe-trust-domain: trust domain 'BAD DOMAIN' contains 'B': "
            "only lowercase letters, digits, '.-_' are allowed",
        ),
    ],
)
def test_controller_flags_are_checked_before_connecting(
    unreachable: Path, flags: list[str], message: str
) -> None:
    signer = ["--enable-spiffe-signer", "--spiffe-ca-pool", "pool.json"]
    line = refused("controller", "--kubeconfig", str(unreachable), *signer, *flags)
    assert line == f"{message} (see 'meshtool controller --help')"


def test_demo_server_checks_its_trust_domain() -> None:
    line = refused("demo-server", "--server-creds", "absent.pem", "--spiffe-trust-domain", "BAD")
    assert line.startswith(
        "Invalid value for '--spiffe-trust-domain' (env var: 'MESHTOOL_SPIFFE_TRUST_DOMAIN'): "
        "trust domain 'BAD' contains 'B'"
    )


def test_demo_server_checks_its_listen_address() -> None:
    line = refused("demo-server", "--server-creds", "absent.pem", "--listen", ":99999")
    assert line.startswith("Invalid value for '--listen': ':99999' is not ADDR:PORT")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://server.demo.svc/", "'http://server.demo.svc/' is not an https:// URL with a host"),
        ("https:///healthz", "'https:///healthz' is not an https:// URL with a host"),
        ("server.demo.svc:8443", "'server.demo.svc:8443' is not an https:// URL with a host"),
        ("https://server:99999/", "'https://server:99999/': Port out of range 0-65535"),
        ("https://server:port/", "'https://server:port/': Port could not be cast to integer"),
    ],
)
def test_https_client_refuses_a_bad_url_at_once(url: str, problem: str) -> None:
    """Without --count a bad URL used to be retried forever; now nothing is ever dialled."""
    line = refused("https-client", "--fetch-url", url, "--server-trust-bundle", "absent.pem")
    flag = "'--fetch-url' (env var: 'MESHTOOL_FETCH_URL')"
    assert line.startswith(f"Invalid value for {flag}: {problem}")


@pytest.mark.parametrize("args", [[], ["ca"]])
def test_a_group_without_a_command_shows_its_help_not_an_error(args: list[str]) -> None:
    result = CliRunner().invoke(root, args, env={}, prog_name="meshtool")
    assert result.exit_code in (0, 2)  # click 8.1 exits 0, 8.2 on 2
    assert result.output.startswith(f"Usage: {' '.join(['meshtool', *args])} [OPTIONS] COMMAND")
    assert PREFIX not in result.output
