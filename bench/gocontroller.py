"""The reference Go controller, measured in the same run: what "CPU per certificate" is held to.

`tools/pcr-ceiling --sign-ca` is the canonical client-go signer (typed clientset, shared
informer, work queue, `UpdateStatus`; `tools/pcr-ceiling/signer.go`). It signs the requests of a
signer nobody else runs, with the same CA as the controller (the pool the benchmark makes),
while the simulated kubelets create them exactly as in the controller's run (a burst, or at the
steady rate). It reports its own CPU from cache sync to its last write, so the figure is the
same quantity as the controller's `cpu_ms_per_pcr`, on the same machine, minutes apart: on a
shared 2-core machine that is the only comparison that does not move with the neighbours.

It reads certificates.k8s.io/v1 only (its typed client); against an older served version the
figures are `nan`.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from goceiling import build, run_go
from pcrload import create_load

from meshtool.kube import resources
from meshtool.pki import capool
from meshtool.testing import pcrforms
from meshtool.testing.burst import NAMESPACE, Fleet, bodies_for

GO_SIGNER = "bench.meshtool.invalid/go-controller"


@dataclass(frozen=True, slots=True)
class GoController:
    rate: float
    """Requests issued per second, from the first create to its last write."""
    cpu_ms_per_pcr: float
    terminated_watches: float = math.nan
    """PCR watches the apiserver terminated during its run (any watcher's, as for ours)."""


NOT_MEASURED = GoController(math.nan, math.nan)


async def go_controller(
    fl: Fleet,
    kubeconfig: Path,
    version: str,
    form: pcrforms.KeyForm,
    count: int,
    workers: int,
    pool: capool.CAPool,
    work: Path,
    steady_rate: float = 0.0,
) -> GoController:
    """Run the reference on `count` requests, created in a burst, or at `steady_rate` per second
    when that is set (as the controller's run creates them: the two CPU figures compare only
    under the same load)."""
    if version != "v1":
        return NOT_MEASURED
    binary = await asyncio.to_thread(build)
    targets = await fl.pods("goctl", count, GO_SIGNER)
    bodies = bodies_for(targets, GO_SIGNER, version, form)
    args = [
        f"--kubeconfig={kubeconfig}",
        f"--namespace={NAMESPACE}",
        f"--signer={GO_SIGNER}",
        f"--sign-ca={_write_ca(pool, work)}",
        f"--concurrency={workers}",
        f"--expect={count}",
    ]
    resource = resources.pod_certificate_requests(version)
    run = await run_go(
        binary,
        "the Go reference controller",
        args,
        lambda: create_load(fl, resource, bodies, steady_rate=steady_rate),
    )
    if run.code != 0 or run.result["written"] != count:
        raise RuntimeError(f"the Go reference controller failed (exit {run.code}): {run.result}")
    rate = count / (float(run.result["last_write_unix"]) - run.started)
    await fl.remove("goctl", GO_SIGNER, resource)
    return GoController(rate, float(run.result["cpu_seconds"]) / count * 1000)


def _write_ca(pool: capool.CAPool, work: Path) -> Path:
    """The pool's signing CA as the Go program reads it: the certificate, then a PKCS#8 key."""
    ca = pool.signing_ca
    path = work / "go-controller-ca.pem"
    path.touch(mode=0o600)  # the key is never readable by others, not even for a moment
    key = ca.signing_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(ca.issuer_cert.public_bytes(serialization.Encoding.PEM) + key)
    return path
