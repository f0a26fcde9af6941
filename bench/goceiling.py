"""The benchmark's real ceiling: a Go client-go writer of precomputed Issued statuses.

`tools/pcr-ceiling` (built by `hack/pcr-ceiling.sh`) watches the PodCertificateRequests of a
signer nobody else runs and writes each one's precomputed status once, with client-go's rate
limit lifted and `concurrency` writers: the rate a well-written Go controller could reach if
signing cost nothing. It runs under the same load as the controller's run: simulated kubelets
create the requests (64 at a time) while it writes, and the rate is counted from the first
create to the last successful write. The statuses are computed before any request exists (the
benchmark makes the keys), so nothing is signed during the measured window.

`terminated_watchers` reads kube-apiserver's `apiserver_terminated_watchers_total` for one
resource: the count of watches the apiserver closed because the client did not keep up;
`forced_closes` finds the same closings in its log and tells whose watch it was.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pcrload import create_load, issued_status

from meshtool.api import pcr
from meshtool.clock import SystemClock
from meshtool.kube import resources
from meshtool.pki import capool
from meshtool.testing import pcrforms
from meshtool.testing.burst import NAMESPACE, Fleet, bodies_for, named
from meshtool.testing.controlplane import ControlPlane
from meshtool.testing.kubectl import Kubectl

GO_SIGNER = "bench.meshtool.invalid/go-ceiling"
ROOT = Path(__file__).resolve().parent.parent
JSON = dict[str, Any]


def build() -> Path:
    """The pcr-ceiling binary, built (or found cached) by hack/pcr-ceiling.sh."""
    out = subprocess.run(
        [str(ROOT / "hack" / "pcr-ceiling.sh")], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


async def go_ceiling(
    cp: ControlPlane,
    fl: Fleet,
    version: str,
    form: pcrforms.KeyForm,
    count: int,
    concurrency: int,
    pool: capool.CAPool,
    work: Path,
) -> float:
    binary = await asyncio.to_thread(build)
    targets = await fl.pods("goceil", count, GO_SIGNER)
    bodies = named(bodies_for(targets, GO_SIGNER, version, form), "goceil")
    clock = SystemClock()
    statuses = {body["metadata"]["name"]: _precomputed(body, pool, clock) for body in bodies}
    statuses_file = work / "go-ceiling-statuses.json"
    statuses_file.write_text(json.dumps(statuses))
    args = [
        f"--kubeconfig={cp.kubeconfig}",
        f"--namespace={NAMESPACE}",
        f"--signer={GO_SIGNER}",
        f"--version={version}",
        f"--statuses={statuses_file}",
        f"--concurrency={concurrency}",
    ]
    resource = resources.pod_certificate_requests(version)
    run = await run_go(binary, "pcr-ceiling", args, lambda: create_load(fl, resource, bodies))
    if run.code != 0 or run.result["written"] != count or run.result["errors"]:
        raise RuntimeError(f"pcr-ceiling failed (exit {run.code}): {run.result}")
    await fl.remove("goceil", GO_SIGNER, resource)
    return count / (float(run.result["last_write_unix"]) - run.started)


@dataclass(frozen=True, slots=True)
class GoRun:
    result: JSON
    """The program's one JSON line."""
    code: int | None
    started: float
    """Wall time (time.time) when the load began."""


async def run_go(
    binary: Path, what: str, args: list[str], load: Callable[[], Awaitable[object]]
) -> GoRun:
    """Start `binary`, wait for its "ready" line, apply `load`, read its result line; the
    process is killed if anything goes wrong on the way."""
    proc = await asyncio.create_subprocess_exec(str(binary), *args, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        ready = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        if ready.strip() != b"ready":
            raise RuntimeError(f"{what} did not start: {ready!r}")
        started = time.time()
        await load()
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=600)
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return GoRun(json.loads(line), proc.returncode, started)


def _precomputed(body: JSON, pool: capool.CAPool, clock: SystemClock) -> JSON:
    """The status for a request not yet created (its key is in `body`; name set by `named`)."""
    meta = {**body["metadata"], "namespace": NAMESPACE, "uid": "-", "resourceVersion": "1"}
    return dict(issued_status(pcr.parse({**body, "metadata": meta}), pool, clock))


def forced_closes(cp: ControlPlane, resource: str) -> dict[str, int]:
    """kube-apiserver's "Forcing ... watcher close due to unresponsiveness" lines so far (it
    logs them at -v=1), by whose watch it was: "controller" (all namespaces, a signer's field
    selector: meshtool's informer), "benchmark" (one namespace: this script's Issued watch) or
    "other" (e.g. the apiserver's own unfiltered informer on its loopback client)."""
    counts = {"controller": 0, "benchmark": 0, "other": 0}
    for line in forced_close_lines(cp, resource):
        counts[_whose(line, resource)] += 1
    return counts


def forced_close_lines(cp: ControlPlane, resource: str) -> list[str]:
    """kube-apiserver's "Forcing ... watcher close due to unresponsiveness" log lines so far
    for watches of `resource`, as logged."""
    log = cp.workdir / "kube-apiserver.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return [
        line
        for line in lines
        if "watcher close due to unresponsiveness" in line and f'key: "/{resource}/' in line
    ]


def _whose(line: str, resource: str) -> str:
    if f'key: "/{resource}/",' not in line:
        return "benchmark"
    return "controller" if 'fields: "spec.signerName=' in line else "other"


async def terminated_watchers(cp: ControlPlane, resource: str) -> float:
    """kube-apiserver's apiserver_terminated_watchers_total summed over `resource`'s series."""
    out = await Kubectl.of(cp).run("get", "--raw", "/metrics")
    total = 0.0
    for line in out.stdout.splitlines():
        if line.startswith("apiserver_terminated_watchers_total{") and (
            f'resource="{resource}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total
