"""demo-server and https-client stop within 2 s of SIGTERM when they are PID 1, as in their
containers. The kernel delivers no signal to a PID 1 that has no handler for it, so each test
runs the real command as PID 1 of a new PID namespace (`unshare --pid --fork`, which needs
root), waits until it is serving or polling, sends SIGTERM to it and bounds the wait.
Without root or unshare the tests skip, except with CI=true, where that is a failure."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from meshtool.testing import pytest_plugin

from .demo_pki import Issued, issue

GRACE = 2.0


@pytest.fixture
def as_pid1() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        if pytest_plugin.in_ci():
            pytest.fail("the PID 1 tests need root and unshare (util-linux)")
        pytest.skip("the PID 1 tests need root and unshare (util-linux)")
    return [unshare, "--pid", "--fork", "--mount-proc"]


def start(prefix: list[str], *args: str, ready: str) -> tuple[subprocess.Popen[str], int]:
    """The command under `prefix`, once its log says `ready`; and the host PID of meshtool."""
    command = [*prefix, sys.executable, "-m", "meshtool", *args]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if ready in line:
            break
    else:
        raise AssertionError(f"exited ({proc.wait()}) before logging {ready!r}")
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return proc, int(children[0])


def pid_in_namespace(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(line for line in status if line.startswith("NSpid:")).split()[-1]


def stops_on_sigterm(proc: subprocess.Popen[str], pid: int) -> str:
    """SIGTERM to meshtool (PID 1 inside); checks it exits 0 within GRACE; the rest of its log."""
    with proc:  # closes the pipe, and waits, whatever happens
        assert pid_in_namespace(pid) == "1"
        os.kill(pid, signal.SIGTERM)
        try:
            proc.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"still running {GRACE} s after SIGTERM") from None
        assert proc.returncode == 0
        assert proc.stderr is not None
        return proc.stderr.read()


def test_demo_server_stops_on_sigterm_as_pid_1(
    as_pid1: list[str], ca: Issued, tmp_path: Path
) -> None:
    creds = tmp_path / "creds.pem"
    creds.write_bytes(issue(ca, dns=("server.demo.svc",)).bundle())
    args = ["demo-server", "--listen", "127.0.0.1:0", "--server-creds", str(creds)]
    proc, pid = start(as_pid1, *args, ready="serving HTTPS on")
    assert "SIGTERM received; stopping" in stops_on_sigterm(proc, pid)


def test_https_client_stops_on_sigterm_as_pid_1(
    as_pid1: list[str], ca: Issued, tmp_path: Path
) -> None:
    trust = tmp_path / "trust.pem"
    trust.write_bytes(ca.pem())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"https://127.0.0.1:{sock.getsockname()[1]}/"  # closed once the block ends
    args = ["https-client", "--fetch-url", url, "--server-trust-bundle", str(trust)]
    proc, pid = start(as_pid1, *args, "--interval", "3600", ready="failed")
    assert "SIGTERM received; stopping" in stops_on_sigterm(proc, pid)
