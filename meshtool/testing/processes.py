"""Child processes of the test harness (etcd, kube-apiserver) that must never outlive it.

Each child runs in its own session, hence its own process group (pgid == pid), with stdout
and stderr in a log file. `stop()` sends SIGTERM to the whole group, waits, then SIGKILLs;
`kill()` is an immediate SIGKILL (a crash).
Every group ever started is remembered: an atexit hook kills the ones still running (a test
run interrupted with Ctrl-C still cleans up), and `leftovers()` lists any process of those
groups that `ps` still shows, which the pytest plugin turns into a session failure.
A SIGKILL of the Python process itself cannot be handled; `ps -eo pid,pgid,args` finds those.
`free_port` never hands out the same port twice in one process, so harnesses started side by side
(two control planes, their controllers and bundle endpoints) cannot collide on a port.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 40
FREE_PORT_ATTEMPTS = 100

_started_groups: set[int] = set()
_running: dict[int, Child] = {}
_handed_out: set[int] = set()


class Child:
    def __init__(self, name: str, args: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                list(args),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.popen.pid
        _started_groups.add(self.pid)
        _running[self.pid] = self

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the process group, SIGKILL it after `timeout`, and reap the child."""
        self._signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.popen.wait()
        # Anything else left in the group (there should be nothing) goes too.
        self._signal(signal.SIGKILL)
        _running.pop(self.pid, None)

    def kill(self) -> None:
        """SIGKILL the whole group at once (a crash: no graceful shutdown) and reap it."""
        self._signal(signal.SIGKILL)
        self.popen.wait()
        _running.pop(self.pid, None)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (for a child to listen on) and that this
    process never handed out before.

    The port is only reserved once the child binds it, so between our probe and its bind the
    kernel may offer the same port again; with two control planes (or a plane, controllers and
    bundle endpoints) starting side by side, two children would then race for it. Remembering
    what we handed out rules that out within one harness process.
    """
    for _ in range(FREE_PORT_ATTEMPTS):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no loopback port not handed out before in {FREE_PORT_ATTEMPTS} tries")


def leftovers() -> list[str]:
    """`ps` lines of processes still alive in any group this Python process started."""
    if not _started_groups:
        return []
    out = subprocess.run(
        ["ps", "-eo", "pid,pgid,stat,args"], capture_output=True, text=True, check=True
    ).stdout
    found = []
    for line in out.splitlines()[1:]:
        fields = line.split(None, 3)
        # Zombies are already dead; they only wait for their parent to reap them.
        if len(fields) >= 3 and int(fields[1]) in _started_groups and "Z" not in fields[2]:
            found.append(line.strip())
    return found


@atexit.register
def _kill_all() -> None:
    for child in list(_running.values()):
        child.stop(timeout=2.0)
