"""`meshtool doctor` as a command: bad flags end in one line before any network call, and an
apiserver that does not answer is one fail finding naming it, with exit code 1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "meshtool", "doctor", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def dead_server(tmp_path: Path) -> Path:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG % port)
    return path


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--signers", "spiffe,nope"], "Invalid value for --signers"),
        (["--signer-domain", "BAD DOMAIN"], "Invalid value for --signer-domain"),
        (["--pool-secret", "spiffe=nons"], "want SIGNER=NAMESPACE/NAME"),
        (["--pending-warn-after", "1h", "--pending-fail-after", "1m"], "--pending-warn-after"),
        (["--window", "soon"], "expected a duration"),
    ],
)
def test_bad_flags_are_one_line_before_any_call(dead_server, flags, message):
    done = run("--kubeconfig", str(dead_server), *flags)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""  # no report: nothing was asked of the server


def test_unreachable_apiserver_is_one_fail_naming_it(dead_server):
    done = run("--kubeconfig", str(dead_server))
    assert done.returncode == 1, done.stderr
    [finding] = done.stdout.splitlines()[1:-1]
    assert finding.startswith(
        "fail  api      apiserver: cannot reach the apiserver https://127.0.0.1:"
    )
    assert "connection refused" in finding
    assert "ConnectError(" not in finding and "Traceback" not in done.stderr
    as_json = run("--output", "json", env={"MESHTOOL_KUBECONFIG": str(dead_server), "PATH": ""})
    report = json.loads(as_json.stdout)
    assert report["exitCode"] == 1 == as_json.returncode
    assert report["findings"][0]["status"] == "fail"
