"""Issuance benchmark: N pods' PodCertificateRequests against a local control plane.

Run with `make bench` (or `python bench/issuance.py --pods 2000`). It starts kube-apiserver and
etcd, creates N pods bound to simulated nodes and then, as their kubelets would (one client
identity per node, judged by NodeRestriction), creates one PCR per pod with a fresh ECDSA
P-256 key. The controller runs as a separate process. It measures:

- time from the first PCR create to the last Issued status seen on a watch, and throughput;
- latency per PCR, from its create call returning to its Issued status arriving on the watch;
- controller CPU seconds per PCR and peak RSS (from /proc);
- a ceiling, in the same run: the rate at which a minimal client writes precomputed Issued
  statuses (same HTTP stack, same concurrency) to PCRs of a signer nobody runs.

The last line is machine-readable:
`bench: pcr_per_s=<n> ceiling_per_s=<n> ratio=<r> p99_ms=<n> rss_mb=<n>`.

This script runs the control plane and the controller and reports; the load itself (the fleet
of simulated kubelets, PCR bodies, the Issued watch and the ceiling) is `pcrload.py`, beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pcrload import Fleet, bodies_for, ceiling, create_all, watch_issued

from meshtool.clock import SystemClock
from meshtool.kube import resources
from meshtool.pki import capool
from meshtool.testing import nodeapi, pcrforms
from meshtool.testing.controllerproc import ControllerProcess
from meshtool.testing.controlplane import ControlPlane

SIGNER = "row-major.net/spiffe"
JSON = dict[str, Any]


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="meshtool-bench-"))
    try:
        await run_in(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def run_in(args: argparse.Namespace, work: Path) -> None:
    async with ControlPlane(args.version, work / "k8s") as cp:
        log(f"control plane {cp.server_version} up in {cp.start_seconds:.1f}s")
        admin = cp.client(qps=1e6, burst=1_000_000)
        fl = Fleet(cp, admin, args.nodes)
        try:
            await fl.prepare()
            version = (await nodeapi.served_versions(admin, "podcertificaterequests"))[0]
            form = pcrforms.default_form(version, await nodeapi.server_minor(admin))
            await measure(args, cp, fl, version, form, work)
        finally:
            await fl.aclose()
            await admin.aclose()


async def measure(
    args: argparse.Namespace,
    cp: ControlPlane,
    fl: Fleet,
    version: str,
    form: pcrforms.KeyForm,
    work: Path,
) -> None:
    pool = capool.new_pool(ca_id="1", name=SIGNER, clock=SystemClock())
    pool_file = work / "spiffe-pool.json"
    pool_file.write_bytes(capool.dump(pool))
    log(f"ceiling: writing {args.pods} precomputed statuses")
    ceiling_rate = await ceiling(fl, version, form, args.pods, args.workers, pool)
    log(f"creating {args.pods} pods on {args.nodes} nodes")
    targets = await fl.pods("pod", args.pods, SIGNER)
    bodies = bodies_for(targets, SIGNER, version, form)
    controller = ControllerProcess(
        [
            "--kubeconfig",
            str(cp.kubeconfig),
            "--enable-spiffe-signer",
            "--spiffe-ca-pool",
            str(pool_file),
            "--workers",
            str(args.workers),
            "--kube-api-qps",
            "5000",
            "--kube-api-burst",
            "5000",
            "--log-level",
            "warning",
        ],
        workdir=work,
    )
    controller.start()
    try:
        await controller.wait_ready()
        await report(args, fl, version, bodies, controller, ceiling_rate)
    finally:
        controller.stop()


async def report(
    args: argparse.Namespace,
    fl: Fleet,
    version: str,
    bodies: list[JSON],
    controller: ControllerProcess,
    ceiling_rate: float,
) -> None:
    resource = resources.pod_certificate_requests(version)
    cpu0 = controller.cpu_seconds()
    watcher = asyncio.create_task(watch_issued(fl.admin, resource, SIGNER, len(bodies)))
    await asyncio.sleep(0.5)  # let the watch open before the first create
    started = time.monotonic()
    created = await create_all(fl, resource, bodies, concurrency=64)
    create_rate = len(bodies) / (max(t for t, _ in created.values()) - started)
    issued = await asyncio.wait_for(watcher, timeout=600)
    cpu = controller.cpu_seconds() - cpu0
    finished = max(issued.values())
    latencies = [(issued[name] - t) * 1000 for name, (t, _) in created.items()]
    elapsed = finished - started
    rate = len(bodies) / elapsed
    writes = controller.metric_sum("meshtool_status_writes_total", result="written")
    rows = [
        ("PCRs", f"{len(bodies)}"),
        ("nodes", f"{args.nodes}"),
        ("API version", version),
        ("PCR creation (as kubelets)", f"{create_rate:.0f} PCR/s"),
        ("time to all Issued", f"{elapsed:.2f} s"),
        ("throughput", f"{rate:.0f} PCR/s"),
        ("latency p50", f"{statistics.median(latencies):.0f} ms"),
        ("latency p99", f"{percentile(latencies, 0.99):.0f} ms"),
        ("controller CPU", f"{cpu:.2f} s ({cpu / len(bodies) * 1000:.2f} ms/PCR)"),
        ("controller peak RSS", f"{controller.peak_rss_mb():.0f} MB"),
        ("status writes (controller)", f"{writes:.0f}"),
        ("ceiling (precomputed writes)", f"{ceiling_rate:.0f} PCR/s"),
        ("ratio", f"{rate / ceiling_rate:.2f}"),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows))
    print(
        f"bench: pcr_per_s={rate:.0f} ceiling_per_s={ceiling_rate:.0f} "
        f"ratio={rate / ceiling_rate:.2f} p99_ms={percentile(latencies, 0.99):.0f} "
        f"rss_mb={controller.peak_rss_mb():.0f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--version", default="1.37")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
