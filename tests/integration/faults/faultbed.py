"""The fault suite's test bed: controller replicas, a burst of PCRs, and the verdict.

`Bed` runs controller replicas as separate processes, each with its own client certificate (the
controller's identity plus a `meshtool-faults:<replica>` group, which no RBAC rule names, so the
permissions are exactly the manifests' and the audit log still tells the writers apart), straight
to the apiserver or through the fault proxy. `Bed.burst(case)` starts a `StatusRecorder` and then
creates `BURST` PCRs (labelled with the case) as their nodes would, through apiserver outages.

`Burst.finish(fault_end)` waits until every PCR is Issued, stops the replicas, lets the recorder
catch up with the apiserver, and judges from the apiserver's side: every PCR Issued exactly once,
none lost, none Denied or Failed, no audited PCR with two accepted status writes. It measures the
seconds from the end of the fault to the first Issued write after it ("back") and to the last
("all"), and adds a row to `ROWS`, the table the suite prints at the end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshtool.kube import resources
from meshtool.kube.client import KubeClient
from meshtool.sharding import rendezvous
from meshtool.testing import burst, pcrforms, statuswrites
from meshtool.testing.controllerproc import ControllerProcess
from meshtool.testing.controlplane import ControlPlane
from meshtool.testing.faultproxy import FaultProxy

BURST = 2000
NAMESPACE = "faults"
SIGNER = "row-major.net/spiffe"
CASE_LABEL = "meshtool.test/case"
LEASE_SECONDS = 15
CONTROLLER_USER = "system:serviceaccount:mesh-controller:meshtool-controller"
CONTROLLER_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:mesh-controller"]
ISSUE_TIMEOUT = 420.0
ROWS: list[dict[str, Any]] = []


def replica_group(name: str) -> str:
    return f"meshtool-faults:{name}"


@dataclass
class Bed:
    plane: ControlPlane
    proxy: FaultProxy
    admin: KubeClient
    fleet: burst.Fleet
    targets: list[pcrforms.PodTarget]
    pool: Path
    workdir: Path
    version: str
    form: pcrforms.KeyForm
    app: str
    replicas: list[ControllerProcess] = field(default_factory=list)

    def kubeconfig(self, name: str, *, proxied: bool) -> Path:
        groups = [*CONTROLLER_GROUPS, replica_group(name)]
        server = self.proxy.url if proxied else None
        suffix = "-proxied" if proxied else ""
        return self.plane.user(CONTROLLER_USER, groups, server=server, file_name=name + suffix)

    async def start_replicas(self, count: int, *, proxied: bool = False) -> list[ControllerProcess]:
        started = [self._replica(i, count, proxied) for i in range(count)]
        for proc in started:
            await proc.wait_ready(timeout=120)
        if count > 1:
            all_live = lambda: all(self.live(p) == count for p in started)  # noqa: E731
            await until(all_live, 90, "every replica to see all live", blocking=True)
        return started

    def live(self, proc: ControllerProcess) -> float:
        return proc.metric_sum("meshtool_live_replicas")

    def _replica(self, i: int, count: int, proxied: bool) -> ControllerProcess:
        name = f"{self.app}-{i}"
        args = ["--kubeconfig", str(self.kubeconfig(name, proxied=proxied))]
        args += ["--enable-spiffe-signer", "--spiffe-ca-pool", str(self.pool)]
        args += ["--workers", "16", "--kube-api-qps", "5000", "--kube-api-burst", "5000"]
        args += ["--log-level", "info"]
        if count > 1:
            args += ["--sharding-pod-namespace", "mesh-controller", "--sharding-pod-name", name]
            args += ["--sharding-application-name", self.app]
        proc = ControllerProcess(args, workdir=self.workdir / name, name=name)
        proc.start()
        self.replicas.append(proc)
        return proc

    def names(self) -> list[str]:
        return [p.name for p in self.replicas]

    async def burst(self, case: str, *, labels: Any = None) -> Burst:
        """Record, then create the case's PCRs; `labels(i)` adds labels to the i-th one."""
        resource = resources.pod_certificate_requests(self.version)
        recorder = statuswrites.StatusRecorder(
            self.admin, resource, NAMESPACE, label_selector=f"{CASE_LABEL}={case}"
        )
        await recorder._relist()  # the watch starts from here: it sees every later write
        bodies = burst.bodies_for(self.targets, SIGNER, self.version, self.form)
        burst.named(bodies, case, {CASE_LABEL: case})
        for i, body in enumerate(bodies):
            body["metadata"]["labels"].update(labels(i) if labels else {})
        made = burst.create_all(self.fleet, resource, bodies, 64, through_outages=True)
        return Burst(self, case, recorder, asyncio.create_task(recorder.run()), made)

    def stop_all(self) -> None:
        for proc in self.replicas:
            proc.stop()


@dataclass
class Burst:
    bed: Bed
    case: str
    recorder: statuswrites.StatusRecorder
    recording: asyncio.Task[None]
    made: Any  # the create_all coroutine
    uids: list[str] = field(default_factory=list)
    created: asyncio.Task[dict[str, tuple[float, Any]]] | None = None

    def __post_init__(self) -> None:
        self.created = asyncio.ensure_future(self.made)

    def issued(self) -> int:
        return sum(bool(s and "Issued" in s[-1].conditions) for s in self.recorder.seen.values())

    async def until_issued(self, count: int) -> None:
        await until(lambda: self.issued() >= count, ISSUE_TIMEOUT, f"{count} issued ({self.case})")

    async def finish(self, fault_end: float, *, fault: str, audit_complete: bool = True) -> Row:
        assert self.created is not None
        created = await asyncio.wait_for(self.created, ISSUE_TIMEOUT)
        self.uids = [obj["metadata"]["uid"] for _, obj in created.values()]
        await until(lambda: self.issued() >= len(self.uids), ISSUE_TIMEOUT, f"all issued ({fault})")
        self.bed.stop_all()
        await self._catch_up()
        self.recording.cancel()
        row = self._row(fault, fault_end)
        self._check_audit(complete=audit_complete)
        return row

    async def _catch_up(self) -> None:
        """Let the recorder reach the apiserver's current resourceVersion (nothing is missed)."""
        listed = await self.bed.admin.list(
            self.recorder.resource, namespace=NAMESPACE, label_selector=f"{CASE_LABEL}={self.case}"
        )
        await until(lambda: self.recorder.caught_up(listed.items), 60, "the recorder to catch up")

    def _row(self, fault: str, fault_end: float) -> Row:
        tally = self.recorder.tally(self.uids)
        after = [t - fault_end for t in self.recorder.issued_times(self.uids) if t >= fault_end]
        row = Row(fault, tally, after[0] if after else float("nan"), after[-1] if after else 0.0)
        ROWS.append(row.as_dict())
        print(f"\nfault-suite: {row.line()}", flush=True)
        assert self.recorder.relists == 0, "the recorder missed history (410): record incomplete"
        assert tally.pcrs == BURST, tally
        assert (tally.lost, tally.twice, tally.failed) == (0, 0, 0), tally
        assert tally.issued_once == BURST, tally
        return row

    def _check_audit(self, *, complete: bool) -> None:
        writes = self.audited()
        accepted = Counter(w.name for w in writes if w.code == 200)
        assert max(accepted.values(), default=0) <= 1, accepted.most_common(3)
        if complete:  # no apiserver crash, nor a writer killed mid-request, lost an audit line
            assert len(accepted) == BURST, f"{len(accepted)} audited accepted writes"

    def audited_all(self) -> list[statuswrites.AuditWrite]:
        assert self.bed.plane.audit_log is not None
        return statuswrites.audit_writes(self.bed.plane.audit_log)

    def audited(self) -> list[statuswrites.AuditWrite]:
        """This case's PCR status write attempts."""
        prefix = f"{self.case}-"
        return [
            w
            for w in self.audited_all()
            if w.resource == "podcertificaterequests"
            and w.namespace == NAMESPACE
            and w.name.startswith(prefix)
        ]

    def share(self, uid: str, replicas: list[str]) -> str | None:
        return self.share_of(self.recorder.names[uid], replicas)

    def share_of(self, name: str, replicas: list[str]) -> str | None:
        """The replica that owns PCR `name` when `replicas` are live (rendezvous hashing)."""
        return rendezvous.owner(f"{NAMESPACE}/{name}", replicas)


@dataclass
class Row:
    fault: str
    tally: statuswrites.Tally
    back: float
    all_done: float
    extra: str = ""

    def as_dict(self) -> dict[str, Any]:
        t = self.tally
        return {
            "fault": self.fault,
            "PCRs": t.pcrs,
            "lost": t.lost,
            "issued twice": t.twice,
            "Failed": t.failed,
            "s back to issuing": f"{self.back:.1f}",
            "s to all issued": f"{self.all_done:.1f}",
        }

    def line(self) -> str:
        return " | ".join(f"{k}={v}" for k, v in self.as_dict().items())


def table() -> str:
    if not ROWS:
        return ""
    keys = list(ROWS[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in ROWS]
    return "\n".join(lines)


def wall_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def until(
    check: Any, timeout: float, what: str, *, every: float = 0.25, blocking: bool = False
) -> None:
    """Wait for `check()`; `blocking` checks (HTTP to a replica) run in a thread."""
    deadline = time.monotonic() + timeout
    while not (await asyncio.to_thread(check) if blocking else check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(every)
