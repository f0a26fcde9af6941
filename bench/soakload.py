"""The soak's moving parts: a steady PCR load, a watch that records every status, and sampling.

`Ledger` is the apiserver-side record: a watch (relisting after 410 Gone or a lost apiserver)
notes, per PodCertificateRequest (by uid: generated names are reused once a request is
deleted), when its Issued status first appeared and the chain it carried. A later different
chain for the same request is an issue-twice; a Denied or Failed condition is counted too.
`steady_load` creates `rate` PCRs a second as the pods' kubelets would (pods are reused
round-robin, so the cluster stays the same size) and deletes each one a while after it is
issued, as the kubelet's owner reference would; a create that fails during a fault is retried,
and only created requests are expected to be issued. `Sampler` reads each controller process's
RSS and open descriptors from /proc and its asyncio task count from its `meshtool_asyncio_tasks`
metric. Nothing here starts processes or injects faults.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.testing import fleet, pcrforms
from meshtool.testing.burst import NAMESPACE, Fleet, bodies_for
from meshtool.testing.controllerproc import ControllerProcess

JSON = dict[str, Any]
DELETE_AFTER = 20.0
"""Seconds an issued request is kept before the soak deletes it."""


@dataclass
class Ledger:
    signer: str
    created: dict[str, float] = field(default_factory=dict)
    """uid -> when its create returned; `names` maps uids to names."""
    names: dict[str, str] = field(default_factory=dict)
    issued: dict[str, float] = field(default_factory=dict)
    chains: dict[str, str] = field(default_factory=dict)
    twice: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    relists: int = 0

    def note(self, obj: JSON) -> None:
        name = obj["metadata"]["uid"]
        status = obj.get("status") or {}
        for condition in status.get("conditions") or []:
            kind = condition.get("type")
            if kind == "Issued":
                self._issued(name, status.get("certificateChain", ""))
            elif kind == "Denied":
                self.denied.add(name)
            elif kind == "Failed":
                self.failed.add(name)

    def _issued(self, name: str, chain: str) -> None:
        if name not in self.chains:
            self.chains[name] = chain
            self.issued[name] = time.monotonic()
        elif self.chains[name] != chain:
            self.twice.add(name)

    def issued_since(self, t: float) -> float | None:
        """When the first request was issued at or after `t`, if one was."""
        later = [at for at in self.issued.values() if at >= t]
        return min(later) if later else None

    def pending(self) -> list[str]:
        return [name for name in self.created if name not in self.issued]


async def record(admin: KubeClient, resource: resources.Resource, ledger: Ledger) -> None:
    """Watch forever; on any error (410, apiserver gone) list again and resume."""
    selector = f"spec.signerName={ledger.signer}"
    while True:
        try:
            listed = await admin.list(resource, namespace=NAMESPACE, field_selector=selector)
            for obj in listed.items:
                ledger.note(obj)
            rv = listed.resource_version
            while True:
                async for event in admin.watch(
                    resource, namespace=NAMESPACE, field_selector=selector, resource_version=rv
                ):
                    rv = event.object["metadata"]["resourceVersion"]
                    if event.type != "BOOKMARK":
                        ledger.note(event.object)
        except (errors.KubeError, OSError):
            ledger.relists += 1
            await asyncio.sleep(0.5)


@dataclass
class Load:
    fl: Fleet
    resource: resources.Resource
    version: str
    form: pcrforms.KeyForm
    targets: list[pcrforms.PodTarget]
    ledger: Ledger
    create_errors: int = 0
    next_target: int = 0
    deleted: set[str] = field(default_factory=set)

    async def create_one(self) -> None:
        target = self.targets[self.next_target % len(self.targets)]
        self.next_target += 1
        (body,) = bodies_for([target], self.ledger.signer, self.version, self.form)
        client = self.fl.node_clients[target.node_name]
        for _ in range(120):  # through an apiserver restart, as a kubelet retries
            try:
                obj = await fleet.create_as_node(client, self.resource, body)
            except (errors.KubeError, OSError):
                self.create_errors += 1
                await asyncio.sleep(0.5)
                continue
            uid = obj["metadata"]["uid"]
            self.ledger.created[uid] = time.monotonic()
            self.ledger.names[uid] = obj["metadata"]["name"]
            return

    async def delete_old(self) -> None:
        cutoff = time.monotonic() - DELETE_AFTER
        old = [n for n, at in self.ledger.issued.items() if at < cutoff and n not in self.deleted]
        for uid in old:
            name = self.ledger.names.get(uid)
            try:
                if name is not None:
                    await fleet.delete_quietly(
                        self.fl.admin, self.resource, name, namespace=NAMESPACE
                    )
            except (errors.KubeError, OSError):
                return  # a fault: try again next second
            self.deleted.add(uid)


async def steady_load(load: Load, rate: int, until: float) -> None:
    """`rate` creates started every second until `until` (monotonic); waits for stragglers."""
    running: set[asyncio.Task[None]] = set()
    while time.monotonic() < until:
        tick = time.monotonic()
        for _ in range(rate):
            task = asyncio.create_task(load.create_one())
            running.add(task)
            task.add_done_callback(running.discard)
        await load.delete_old()
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    await asyncio.gather(*running)


@dataclass
class Sample:
    at: float
    rss_mb: float | None
    fds: int | None
    tasks: float | None


@dataclass
class Sampler:
    """Samples per controller process (keyed `name pid`), every `every` seconds."""

    procs: list[ControllerProcess]
    every: float
    series: dict[str, list[Sample]] = field(default_factory=dict)

    async def run(self, started: float) -> None:
        while True:
            for proc in self.procs:
                sample = await asyncio.to_thread(self.sample, proc, started)
                if sample is not None:
                    self.series.setdefault(f"{proc.name} pid {proc.pid}", []).append(sample)
            await asyncio.sleep(self.every)

    @staticmethod
    def sample(proc: ControllerProcess, started: float) -> Sample | None:
        if proc.child is None or not proc.child.alive:
            return None
        try:
            fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
            rss = _rss_mb(Path(f"/proc/{proc.pid}/status"))
        except OSError:
            return None
        metrics = proc.metrics()
        tasks = metrics.get("meshtool_asyncio_tasks")
        return Sample(time.monotonic() - started, rss, fds, tasks)


def _rss_mb(status: Path) -> float | None:
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None
