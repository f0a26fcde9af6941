"""A real TCP fault proxy on loopback between a client and the apiserver: toxiproxy.

`FaultProxy(upstream)` starts `toxiproxy-server` (built by `hack/toxiproxy.sh`, found by
`binaries.toxiproxy`) on a free loopback port for its control API, and one proxy listening on
another free loopback port that forwards to `upstream` ("127.0.0.1:6443"). Point a kubeconfig's
`server` at `url` (the apiserver's serving certificate names 127.0.0.1, so TLS still verifies)
and every byte between that client and the apiserver goes through the proxy.

Faults are toxiproxy "toxics" on the proxy, each on the downstream (to the client) or upstream
(to the apiserver) direction of every connection, existing and new; `NETWORK_FAULTS` names the
ones the fault suite uses. `fault(name)` is a context manager that adds a set and removes it on
exit (toxiproxy's `/reset`, so a failure halfway leaves nothing behind). TCP cannot lose
bytes, so "lossy" here means what a lossy path does to a TCP client: uneven stalls, segments
cut small, and some connections dropped outright.

Removing toxics can wedge toxiproxy v2.5's control API for good (Shopify/toxiproxy#558: a toxic
blocked sending to a link whose destination died holds the collection's lock): its own
25 s handler timeout answers 503 to every later call. `reset` then restarts the server on the
same two ports, which closes every proxied connection (what the "reset" fault does), so the
next case meets a clean proxy at the same URL; `restarts` counts these for the suite's report.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshtool.testing import binaries, processes

PROXY = "apiserver"
API_TIMEOUT = 60.0
"""Changing toxics interrupts every link of the proxy: slow when many connections crawl."""
WEDGED = 503
"""What toxiproxy's own handler timeout answers while a toxic removal holds its lock."""


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Loopback only: an HTTP proxy named in the environment must never see these calls."""


class ProxyApiError(RuntimeError):
    def __init__(self, method: str, path: str, code: int, detail: str) -> None:
        super().__init__(f"toxiproxy {method} {path}: {code} {detail}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Toxic:
    type: str
    stream: str = "downstream"
    attributes: dict[str, int] = field(default_factory=dict)
    toxicity: float = 1.0

    def body(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.attributes,
        }


def _both(type_: str, toxicity: float = 1.0, **attributes: int) -> list[Toxic]:
    return [Toxic(type_, s, attributes, toxicity) for s in ("downstream", "upstream")]


NETWORK_FAULTS: dict[str, list[Toxic]] = {
    # 300 ms +- 250 ms each way: every round trip is slow and uneven.
    "slow": _both("latency", latency=300, jitter=250),
    # Uneven stalls (what retransmissions do), segments cut small (delay in microseconds), and
    # a fifth of connections reset after 2 s.
    "lossy": [
        *_both("latency", latency=200, jitter=200),
        Toxic("slicer", "downstream", {"average_size": 256, "size_variation": 128, "delay": 500}),
        Toxic("reset_peer", "downstream", {"timeout": 2000}, 0.2),
    ],
    # 32 KB/s each way, about a few hundred PCR chains a minute.
    "bandwidth": _both("bandwidth", rate=32),
    # Every connection, old and new, reset (RST) at once.
    "reset": [Toxic("reset_peer", "downstream", {"timeout": 0})],
    # Nothing gets through and nothing is closed: a black hole (connections die when it ends).
    "blackhole": _both("timeout", timeout=0),
}


class FaultProxy:
    def __init__(self, upstream: str, workdir: Path) -> None:
        self.upstream, self.workdir = upstream, workdir
        self.api_port, self.port = processes.free_port(), processes.free_port()
        self.child: processes.Child | None = None
        self.api_timeout = API_TIMEOUT
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [str(binaries.toxiproxy()), "-host", "127.0.0.1", "-port", str(self.api_port)]
        self.child = processes.Child("toxiproxy", args, self.workdir / "toxiproxy.log")
        deadline = time.monotonic() + timeout
        while not self._answers():
            if not self.child.alive or time.monotonic() > deadline:
                raise RuntimeError(f"toxiproxy did not start:\n{self.child.log_tail()}")
            time.sleep(0.1)
        listen = f"127.0.0.1:{self.port}"
        self._call("POST", "/proxies", {"name": PROXY, "listen": listen, "upstream": self.upstream})

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    def add(self, name: str, toxic: Toxic) -> None:
        self._call("POST", f"/proxies/{PROXY}/toxics", toxic.body(name))

    def remove(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{PROXY}/toxics/{name}")

    def toxics(self) -> list[str]:
        return [str(t["name"]) for t in self._call("GET", f"/proxies/{PROXY}/toxics") or []]

    @contextmanager
    def fault(self, name: str) -> Iterator[None]:
        """Apply `NETWORK_FAULTS[name]` for the duration of the block."""
        try:
            for i, toxic in enumerate(NETWORK_FAULTS[name]):
                self.add(f"{name}-{i}", toxic)
            yield
        finally:
            self.reset()

    def reset(self) -> None:
        """Remove every toxic (toxiproxy's own /reset); restart a wedged server instead."""
        try:
            self._call("POST", "/reset")
        except ProxyApiError as exc:
            if exc.code != WEDGED:
                raise
            self.restart(str(exc))
        except TimeoutError as exc:
            self.restart(f"toxiproxy POST /reset: no answer in {self.api_timeout:.0f}s ({exc})")

    def restart(self, why: str) -> None:
        """Stop the server and start a fresh one, without toxics, on the same two ports."""
        print(f"fault-proxy: restarting toxiproxy, its control API is wedged: {why}")
        self.stop()
        self.restarts += 1
        self.start()

    def _answers(self) -> bool:
        try:
            self._call("GET", "/version")
        except OSError:
            return False
        return True

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}{path}", data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        try:
            with _DIRECT.open(request, timeout=self.api_timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace").strip()
            raise ProxyApiError(method, path, exc.code, detail) from exc
        if not raw or path in ("/version", "/reset"):
            return None
        return json.loads(raw)
