"""`meshtool controller` as a separate process, the way tests, the benchmark and the demo run it.

`ControllerProcess` starts `python -m meshtool controller ...` in its own process group (through
`meshtool.testing.processes`, so it can never outlive the test session), with a free loopback
health port, and offers what callers check from outside: readiness, the Prometheus metrics
as numbers, CPU seconds and peak RSS from /proc, and the log. `kill()` is SIGKILL of the whole
group (a crashed replica); `pause()`/`resume()` are SIGSTOP/SIGCONT (a replica frozen, as by a
long GC pause or a stalled node); `stop()` is a graceful SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from meshtool.testing import processes


class ControllerProcess:
    def __init__(
        self,
        args: Sequence[str],
        *,
        workdir: Path,
        name: str = "controller",
        python_args: Sequence[str] = (),
    ) -> None:
        """`python_args` go to the interpreter before `-m meshtool` (the benchmark's
        `-m cProfile -o FILE`)."""
        self.port = processes.free_port()
        self.args = [*args, "--health-address", f"127.0.0.1:{self.port}"]
        self.workdir, self.name = workdir, name
        self.python_args = list(python_args)
        self.child: processes.Child | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, *self.python_args, "-m", "meshtool", "controller", *self.args]
        self.child = processes.Child(self.name, command, self.workdir / f"{self.name}.log")

    @property
    def pid(self) -> int:
        assert self.child is not None
        return self.child.pid

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.port}{path}"
        request = urllib.request.Request(url, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            return 0, str(exc)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.child is not None
            if not self.child.alive:
                raise RuntimeError(f"{self.name} exited:\n{self.child.log_tail()}")
            code, _ = await asyncio.to_thread(self.get, "/readyz")
            if code == 200:
                return
            await asyncio.sleep(0.2)
        _, detail = await asyncio.to_thread(self.get, "/readyz")
        raise TimeoutError(f"{self.name} not ready after {timeout}s: {detail}")

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics, keyed by `name{labels}` as exposed."""
        code, text = self.get("/metrics")
        if code != 200:
            return {}
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return samples

    def metric_sum(self, name: str, **labels: str) -> float:
        wanted = [f'{k}="{v}"' for k, v in labels.items()]
        return sum(
            value
            for key, value in self.metrics().items()
            if key.partition("{")[0] == name and all(w in key for w in wanted)
        )

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def log(self) -> str:
        return self.child.log_path.read_text(errors="replace") if self.child else ""

    def kill(self) -> None:
        """SIGKILL, like a crashed replica: no graceful shutdown, its Lease just expires."""
        if self.child is not None:
            self._signal(signal.SIGKILL)
            self.child.stop()

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, sig: signal.Signals) -> None:
        if self.child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.child.pid, sig)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
