"""The detached processes of a cluster and the state file that records them.

Concept: `Processes` owns DIR/state.json: the pids of the components it spawned (each in its own
session, stdout/stderr appended to DIR/logs/<name>.log, cwd DIR, so they outlive the Python
process that started them), the argv each was started with (so one can be restarted), the host
paths it created, the sysctls and nf_tables tables found before, and the links it added.
Invariants: the state is saved after every change, before the thing it records can exist, so a
`down()` from another process (or after `up()` was killed) finds everything; `wait` fails fast
when the awaited process has exited, with the tail of its log.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meshtool.testing.node.paths import START_TIMEOUT, Paths, alive, cluster_dir


class Processes:
    def __init__(self, root: Path | None = None) -> None:
        self.p = Paths(root or cluster_dir())
        self.state: dict[str, Any] = {"pids": {}, "created": [], "sysctls": {}, "links": []}

    @classmethod
    def load(cls, root: Path | None = None) -> Processes:
        """The processes of the cluster that is up (its state file must exist)."""
        procs = cls(root)
        procs.state = json.loads(procs.p.state.read_text())
        return procs

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        cmd = [str(self.p.bin("kubectl")), f"--kubeconfig={self.p.admin}", *args]
        result = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, check=False, timeout=120
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def save(self) -> None:
        self.p.state.write_text(json.dumps(self.state, indent=2))

    def spawn(
        self, name: str, args: Sequence[str | Path], env: dict[str, str] | None = None
    ) -> None:
        self.p.logs.mkdir(parents=True, exist_ok=True)
        with open(self.p.logs / f"{name}.log", "ab") as out:
            child = subprocess.Popen(
                [str(a) for a in args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
                cwd=self.p.root,
            )
        self.state["pids"][name] = child.pid
        self.state.setdefault("argv", {})[name] = [str(a) for a in args]
        self.state.setdefault("env", {})[name] = env or {}
        self.save()

    def respawn(self, name: str) -> None:
        """Start `name` again exactly as it was started (its argv and env from the state)."""
        self.spawn(name, self.state["argv"][name], self.state["env"][name])

    def wait(self, name: str, what: str, ready: Any, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        pid = self.state["pids"].get(name)
        while True:
            try:
                if ready():
                    return
            except Exception:
                pass
            if pid is not None and not alive(pid):
                raise RuntimeError(f"{name} exited; last lines of its log:\n{self.tail(name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what}: not after {timeout:.0f}s; {name} log:\n{self.tail(name)}"
                )
            time.sleep(0.5)

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.p.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- the sequence
