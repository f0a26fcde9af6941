"""Issuance benchmark: N pods' PodCertificateRequests against a local control plane.

Run with `make bench` (or `python bench/issuance.py --pods 2000`). It starts kube-apiserver and
etcd, creates N pods bound to simulated nodes and then, as their kubelets would (one client
identity per node, judged by NodeRestriction), creates one PCR per pod with a fresh ECDSA
P-256 key. The controller runs as a separate process. It measures:

- time from the first PCR create to the last Issued status seen on a watch, and throughput;
- latency per PCR, from its create call returning to its Issued status arriving on the watch;
- controller CPU seconds per PCR and peak RSS (from /proc);
- the Go reference controller, in the same run (`gocontroller.py`): a client-go signer's CPU
  per certificate on this machine, under the same load, which the controller's is held to;
- the ceiling, in the same run (`goceiling.py`): a Go client-go program writing precomputed
  Issued statuses, rate limit lifted, while simulated kubelets create the requests, as in the
  controller's run; the ratio is against it. The Python writer of the same statuses (the
  controller's HTTP stack) stays as a second figure;
- watches the apiserver terminated for not keeping up (`apiserver_terminated_watchers_total`
  for podcertificaterequests, read before and after the controller's run, and the same for the
  Go reference's run, so a termination can be told from the apiserver's own limits).

`--skip-ceilings` leaves the two ceiling runs and the reference controller out (a 50,000-pod
memory run then does not create four times the objects; the ratios print as `nan`). `--steady-
rate R --steady-seconds S` replaces the burst by creates at a fixed rate (R per second for S
seconds) and reports creation-to-Issued latency at that load.

The last line is machine-readable: `bench: pcr_per_s=<n> ceiling_per_s=<n> ratio=<r>
cpu_ms_per_pcr=<n> p99_ms=<n> rss_mb=<n> terminated_watches=<n> go_cpu_ms_per_pcr=<n>
cpu_to_go=<r>`.

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from goceiling import forced_closes, go_ceiling, terminated_watchers
from gocontroller import NOT_MEASURED, GoController, go_controller
from pcrload import Fleet, bodies_for, ceiling, create_load, watch_issued

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
        if args.keep:
            log(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


async def run_in(args: argparse.Namespace, work: Path) -> None:
    # -v=1: kube-apiserver logs each watcher it closes for falling behind (forced_closes)
    async with ControlPlane(args.version, work / "k8s", apiserver_flags=["-v=1"]) as cp:
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
    ceilings = Ceilings(float("nan"), float("nan"), NOT_MEASURED)
    if not args.skip_ceilings:
        log(
            f"ceiling: a Go client writing {args.pods} precomputed statuses as kubelets create them"
        )
        go_rate = await go_ceiling(
            cp, fl, version, form, args.pods, args.go_concurrency, pool, work
        )
        log(f"ceiling: the Python writer, {args.pods} precomputed statuses")
        py_rate = await ceiling(fl, version, form, args.pods, args.workers, pool)
        log(f"reference: the Go client-go controller signing {args.pods} requests")
        before = await terminated_watchers(cp, "podcertificaterequests")
        reference = await go_controller(
            fl, cp.kubeconfig, version, form, args.pods, args.workers, pool, work, args.steady_rate
        )
        after = await terminated_watchers(cp, "podcertificaterequests")
        reference = replace(reference, terminated_watches=after - before)
        ceilings = Ceilings(go_rate, py_rate, reference)
    log(f"creating {args.pods} pods on {args.nodes} nodes")
    targets = await fl.pods("pod", args.pods, SIGNER)
    bodies = bodies_for(targets, SIGNER, version, form)
    profile = ["-m", "cProfile", "-o", str(Path(args.profile).resolve())] if args.profile else []
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
        python_args=profile,
    )
    controller.start()
    try:
        await controller.wait_ready()
        await report(args, cp, fl, version, bodies, controller, ceilings)
    finally:
        controller.stop()


@dataclass(frozen=True, slots=True)
class Ceilings:
    go: float
    python: float
    reference: GoController
    """The Go reference controller's run (`gocontroller.py`)."""


async def report(
    args: argparse.Namespace,
    cp: ControlPlane,
    fl: Fleet,
    version: str,
    bodies: list[JSON],
    controller: ControllerProcess,
    ceilings: Ceilings,
) -> None:
    resource = resources.pod_certificate_requests(version)
    cpu0 = controller.cpu_seconds()
    terminated0 = await terminated_watchers(cp, "podcertificaterequests")
    forced0 = forced_closes(cp, "podcertificaterequests")
    watcher = asyncio.create_task(watch_issued(fl.admin, resource, SIGNER, len(bodies)))
    await asyncio.sleep(0.5)  # let the watch open before the first create
    started = time.monotonic()
    created = await create_load(fl, resource, bodies, steady_rate=args.steady_rate)
    create_rate = len(bodies) / (max(t for t, _ in created.values()) - started)
    issued = await asyncio.wait_for(watcher, timeout=1800)
    cpu = controller.cpu_seconds() - cpu0
    terminated = await terminated_watchers(cp, "podcertificaterequests") - terminated0
    forced = {k: v - forced0[k] for k, v in forced_closes(cp, "podcertificaterequests").items()}
    finished = max(issued.values())
    latencies = [(issued[name] - t) * 1000 for name, (t, _) in created.items()]
    elapsed = finished - started
    rate = len(bodies) / elapsed
    writes = controller.metric_sum("meshtool_status_writes_total", result="written")
    outcomes = {
        key.partition("result=")[2].split('"')[1]: value
        for key, value in controller.metrics().items()
        if key.startswith("meshtool_status_writes_total{")
    }
    go, cpu_ms = ceilings.reference, cpu / len(bodies) * 1000
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
        ("status write attempts", ", ".join(f"{k} {v:.0f}" for k, v in sorted(outcomes.items()))),
        ("ceiling: Go client-go writer", f"{ceilings.go:.0f} PCR/s"),
        ("ceiling: Python writer", f"{ceilings.python:.0f} PCR/s"),
        ("ratio (to the Go ceiling)", f"{rate / ceilings.go:.2f}"),
        ("ratio (to the Python ceiling)", f"{rate / ceilings.python:.2f}"),
        ("Go reference controller", f"{go.rate:.0f} PCR/s, {go.cpu_ms_per_pcr:.2f} ms/PCR CPU"),
        ("CPU (to the Go controller's)", f"{cpu_ms / go.cpu_ms_per_pcr:.2f}"),
        ("terminated PCR watches (Go ref.)", f"{go.terminated_watches:.0f}"),
        ("terminated PCR watches", f"{terminated:.0f}"),
        (
            "  of which (apiserver log)",
            f"controller {forced['controller']}, this benchmark's watch {forced['benchmark']}, "
            f"other {forced['other']}",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows))
    print(
        f"bench: pcr_per_s={rate:.0f} ceiling_per_s={ceilings.go:.0f} "
        f"ratio={rate / ceilings.go:.2f} cpu_ms_per_pcr={cpu / len(bodies) * 1000:.2f} "
        f"p99_ms={percentile(latencies, 0.99):.0f} rss_mb={controller.peak_rss_mb():.0f} "
        f"terminated_watches={terminated:.0f} go_cpu_ms_per_pcr={go.cpu_ms_per_pcr:.2f} "
        f"cpu_to_go={cpu_ms / go.cpu_ms_per_pcr:.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--version", default="1.37")
    parser.add_argument("--keep", action="store_true", help="keep the logs and work folder")
    parser.add_argument("--profile", help="run the controller under cProfile, writing here")
    parser.add_argument("--go-concurrency", type=int, default=64, help="Go ceiling writers")
    parser.add_argument(
        "--skip-ceilings", action="store_true", help="no ceiling runs (a memory run at scale)"
    )
    parser.add_argument("--steady-rate", type=float, default=0.0, help="PCR creates per second")
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    args = parser.parse_args()
    if args.steady_rate:
        args.pods = round(args.steady_rate * args.steady_seconds)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
