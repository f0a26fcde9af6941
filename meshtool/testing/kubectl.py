"""The real kubectl, run against one kubeconfig: for tests (the `kubectl` fixture) and the demo.

`Kubectl(binary, kubeconfig)` runs `kubectl --kubeconfig=<config> <args>` and returns the
completed process (text stdout and stderr). A non-zero exit raises `KubectlError` with kubectl's
stderr unless `check=False`; a run longer than `timeout` seconds raises
`subprocess.TimeoutExpired`. Calling it blocks; `await kubectl.run(...)` runs the same thing in a
worker thread, which is what any caller on an event loop must use. It keeps no state between
runs and never retries.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshtool.testing.controlplane import ControlPlane

DEFAULT_TIMEOUT = 60.0


class KubectlError(AssertionError):
    """kubectl exited non-zero (an AssertionError, so in a test it reads as a failed check)."""


@dataclass(frozen=True, slots=True)
class Kubectl:
    binary: Path
    kubeconfig: Path

    @classmethod
    def of(cls, plane: ControlPlane) -> Kubectl:
        """The control plane's own kubectl, as its admin."""
        return cls(plane.kubectl_path, plane.kubeconfig)

    def __call__(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        kubeconfig: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; raises `KubectlError` with its stderr on failure unless check=False."""
        config = kubeconfig or self.kubeconfig
        command = [str(self.binary), f"--kubeconfig={config}", *args]
        proc = subprocess.run(command, input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise KubectlError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
            )
        return proc

    async def run(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        kubeconfig: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Like calling it, without blocking the event loop."""
        return await asyncio.to_thread(
            self, *args, check=check, input=input, kubeconfig=kubeconfig, timeout=timeout
        )
