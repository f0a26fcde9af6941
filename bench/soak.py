"""Soak: steady PCR issuance for a long time under periodic faults, watching for leaks.

Run with `make soak` (30 minutes) or `make soak SOAK_ARGS="--minutes 3"`. It starts a real
kube-apiserver and etcd, three controller replicas as processes (sharded over Leases) and a
fleet of simulated kubelets (`pcrload.Fleet`) creating `--rate` PCRs a second. Every
`--fault-every` seconds, after a minute of warm-up, the next fault of the cycle happens:

1. `replica-2` SIGKILLed, restarted 15 s later;
2. kube-apiserver restarted (same port and PKI);
3. watch expiry: etcd compacted, then the apiserver restarted, so every informer's next watch
   is answered 410 Gone and relists;
4. the CA pool file corrupted for 15 s (the mounted Secret broken), then fixed.

Every `--sample-seconds` it samples each controller process: RSS, open descriptors and asyncio
tasks (`meshtool_asyncio_tasks`). replica-0 and replica-1 are never killed, so they span the
whole run. The leak criterion (`growth_problems`): after the first `--settle` minutes of a
process's life, the median of its last three samples may exceed the median of its first three
samples by at most 10% + 16 MiB of RSS, 16 descriptors and 16 tasks. A process that lives too
briefly for that (the killed replica) is reported but not judged.

The load then stops, and every created PCR must be Issued exactly once (one chain per request,
as the watch saw it), none Denied or Failed, within `--drain-seconds`. The last line is
`soak: PASS` or `soak: FAIL <reasons>`; the exit code follows it.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

import soakreport
from pcrload import Fleet
from soakload import Ledger, Load, Sampler, record, steady_load

from meshtool.clock import SystemClock
from meshtool.kube import resources
from meshtool.pki import capool
from meshtool.testing import fleet, nodeapi, pcrforms
from meshtool.testing.controllerproc import ControllerProcess
from meshtool.testing.controlplane import ControlPlane

SIGNER = "row-major.net/spiffe"
APP = "soak"
LEASE_NAMESPACE = "mesh-controller"
RESOURCE_HEADER = ("process", "start: RSS / fds / tasks", "5 min", "end")


def log(message: str) -> None:
    print(f"soak: {time.strftime('%H:%M:%S')} {message}", flush=True)


async def run(args: argparse.Namespace) -> bool:
    work = Path(tempfile.mkdtemp(prefix="meshtool-soak-"))
    try:
        async with ControlPlane(args.version, work / "k8s") as cp:
            return await soak(args, cp, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def soak(args: argparse.Namespace, cp: ControlPlane, work: Path) -> bool:
    admin = cp.client(qps=1e6, burst=1_000_000)
    fl = Fleet(cp, admin, args.nodes)
    await fl.prepare()
    await fleet.create_namespace(admin, LEASE_NAMESPACE, [])
    version = (await nodeapi.served_versions(admin, "podcertificaterequests"))[0]
    form = pcrforms.default_form(version, await nodeapi.server_minor(admin))
    pool_file = work / "spiffe-pool.json"
    pool_file.write_bytes(capool.dump(capool.new_pool(ca_id="1", name=SIGNER, clock=SystemClock())))
    targets = await fl.pods("soak", args.pods, SIGNER)
    replicas = [replica(cp, work, pool_file, i, args.workers) for i in range(args.replicas)]
    for proc in replicas:
        proc.start()
    await asyncio.gather(*(p.wait_ready(timeout=120) for p in replicas))
    log(f"{cp.server_version}: {len(replicas)} replicas ready, {len(targets)} pods, {version}")
    try:
        return await drive(args, cp, fl, version, form, targets, replicas, pool_file)
    finally:
        for proc in replicas:
            proc.stop()
        await fl.aclose()
        await admin.aclose()


def replica(cp: ControlPlane, work: Path, pool: Path, i: int, workers: int) -> ControllerProcess:
    args = ["--kubeconfig", str(cp.kubeconfig), "--enable-spiffe-signer"]
    args += ["--spiffe-ca-pool", str(pool), "--workers", str(workers), "--log-level", "warning"]
    args += ["--sharding-pod-namespace", LEASE_NAMESPACE, "--sharding-application-name", APP]
    args += ["--sharding-pod-name", f"{APP}-{i}", "--kube-api-qps", "500"]
    return ControllerProcess(args, workdir=work / f"replica-{i}", name=f"replica-{i}")


async def drive(
    args: argparse.Namespace,
    cp: ControlPlane,
    fl: Fleet,
    version: str,
    form: pcrforms.KeyForm,
    targets: list[pcrforms.PodTarget],
    replicas: list[ControllerProcess],
    pool_file: Path,
) -> bool:
    resource = resources.pod_certificate_requests(version)
    ledger = Ledger(SIGNER)
    load = Load(fl, resource, version, form, targets, ledger)
    sampler = Sampler(replicas, args.sample_seconds)
    started = time.monotonic()
    until = started + args.minutes * 60
    background = [
        asyncio.create_task(record(fl.admin, resource, ledger)),
        asyncio.create_task(sampler.run(started)),
    ]
    faults = Faults(cp, replicas[-1], pool_file, ledger, started)
    fault_task = asyncio.create_task(faults.run(args.fault_every, until))
    await steady_load(load, args.rate, until)
    await fault_task
    drained = await drain(ledger, args.drain_seconds)
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    return report(args, ledger, load, sampler, faults, drained)


class Faults:
    """The fault cycle; each entry records when it ended and when issuing resumed."""

    def __init__(
        self,
        cp: ControlPlane,
        victim: ControllerProcess,
        pool_file: Path,
        ledger: Ledger,
        started: float,
    ) -> None:
        self.cp, self.victim, self.pool_file, self.ledger = cp, victim, pool_file, ledger
        self.started = started
        self.done: list[tuple[str, float, float]] = []  # name, at (s), ended (monotonic)

    async def run(self, every: float, until: float) -> None:
        cycle = [self.kill_replica, self.restart_apiserver, self.expire_watches, self.bad_pool]
        n = 0
        await asyncio.sleep(min(60.0, every))
        while time.monotonic() + every / 2 < until:
            fault = cycle[n % len(cycle)]
            at = time.monotonic() - self.started
            log(f"fault {n + 1}: {fault.__doc__}")
            await fault()
            self.done.append((str(fault.__doc__), at, time.monotonic()))
            n += 1
            await asyncio.sleep(max(0.0, min(every, until - time.monotonic() - every / 2)))

    async def kill_replica(self) -> None:
        """replica SIGKILL, restarted after 15 s"""
        self.victim.kill()
        await asyncio.sleep(15)
        self.victim.start()
        await self.victim.wait_ready(timeout=120)

    async def restart_apiserver(self) -> None:
        """kube-apiserver restart"""
        await self.cp.restart_apiserver()

    async def expire_watches(self) -> None:
        """watch expiry (etcd compacted, apiserver restarted: 410 Gone on re-watch)"""
        await self.cp.compact()
        await self.cp.restart_apiserver()

    async def bad_pool(self) -> None:
        """CA pool Secret corrupted for 15 s, then fixed"""
        good = self.pool_file.read_bytes()
        write_atomically(self.pool_file, b'{"CAs": [{"ID": "1", "SigningKeyPKCS8": "broken"}]}')
        await asyncio.sleep(15)
        write_atomically(self.pool_file, good)


def write_atomically(path: Path, data: bytes) -> None:
    """As the kubelet swaps a mounted Secret: a new file renamed over the old one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


async def drain(ledger: Ledger, seconds: float) -> float | None:
    """Wait until every created request is issued; the seconds it took, or None."""
    started = time.monotonic()
    while ledger.pending():
        if time.monotonic() - started > seconds:
            return None
        await asyncio.sleep(0.5)
    return time.monotonic() - started


def report(
    args: argparse.Namespace,
    ledger: Ledger,
    load: Load,
    sampler: Sampler,
    faults: Faults,
    drained: float | None,
) -> bool:
    rows, problems = soakreport.accounting(ledger, load)
    rows.append(("drain after the load stopped", f"{drained:.1f} s" if drained else "timed out"))
    print(f"\nsoak: {args.minutes:g} min at {args.rate} PCR/s, {args.replicas} replicas\n")
    print(soakreport.table(rows))
    issued = sorted(ledger.issued.values())
    fault_rows = []
    for n, (name, at, ended) in enumerate(faults.done, 1):
        back = ledger.issued_since(ended)
        window_end = min(ended + 60, faults.started + args.minutes * 60)  # the load's end
        gap = soakreport.longest_gap(issued, faults.started + at, window_end)
        back_text = f"{back - ended:.1f}" if back is not None else "never"
        fault_rows.append((str(n), f"{at:.0f}", name, back_text, f"{gap:.1f}"))
    header = ("#", "at s", "fault", "s to next Issued after it", "longest pause s (to +60 s)")
    print("\n" + soakreport.table(fault_rows, header))
    print("\n" + soakreport.table(soakreport.resource_rows(sampler.series), RESOURCE_HEADER))
    growth, unjudged = soakreport.growth_problems(sampler.series, args.settle * 60)
    print(
        f"\n  leak criterion: after {args.settle:g} min, last-3 median <= first-3 median + "
        f"10% + 16 MiB RSS, + 16 fds, + 16 tasks; not judged (too short): "
        f"{', '.join(unjudged) or 'none'}"
    )
    problems += growth
    if drained is None:
        problems.append(f"not every PCR issued within {args.drain_seconds:g}s of the load stopping")
    print("soak: PASS" if not problems else f"soak: FAIL {'; '.join(problems)}", flush=True)
    return not problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=int, default=25, help="PCRs created per second")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--pods", type=int, default=300)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--fault-every", type=float, default=90, help="seconds between faults")
    parser.add_argument("--sample-seconds", type=float, default=10)
    parser.add_argument(
        "--settle", type=float, default=None, help="minutes (default 5, 1 if short)"
    )
    parser.add_argument("--drain-seconds", type=float, default=180)
    parser.add_argument("--version", default="1.37")
    args = parser.parse_args()
    if args.settle is None:
        args.settle = 5.0 if args.minutes >= 15 else 1.0
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
