"""Every PodCertificateRequest status write, as the apiserver saw it: the fault suite's witness.

`StatusRecorder` lists and then watches PCRs (admin, direct to the apiserver, never through a
fault proxy) and keeps, per PCR uid, each distinct status it carried with the monotonic time it
arrived. It outlives apiserver and etcd restarts: a broken watch resumes from the last
resourceVersion. On a control plane without a watch cache (`--watch-cache=false`) that resume is
served from etcd's history, so no write is missed; a 410 (history compacted away) is counted in
`relists`, and a test that needs every write asserts it is zero.

`caught_up(items)` says whether the record has reached a fresh list's state (resourceVersions
cannot tell: without a watch cache there are no bookmarks, and other objects move the revision).
`tally(uids)` judges the record: a PCR is issued once when exactly one status write set Issued
and none came after it (so the chain never changed); `lost` never got a terminal status,
`twice` had any status write after its Issued one, `failed` was Denied or Failed.

`audit_writes(path)` reads the apiserver's audit log (`ControlPlane(audit=True)`): each PCR
status or Lease write attempt with its answer code, its writer's groups and the apiserver's
timestamp, for what a watch cannot show (rejected attempts, and who wrote).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshtool.kube import errors
from meshtool.kube.client import KubeClient
from meshtool.kube.resources import Resource

JSON = dict[str, Any]
RETRY = 0.5


@dataclass(frozen=True, slots=True)
class StatusSeen:
    at: float
    conditions: tuple[str, ...]
    chain: str  # sha256 of status.certificateChain, "" when there is none


@dataclass
class Tally:
    pcrs: int = 0
    issued_once: int = 0
    lost: int = 0
    twice: int = 0
    failed: int = 0


@dataclass
class StatusRecorder:
    client: KubeClient
    resource: Resource
    namespace: str
    label_selector: str | None = None
    seen: dict[str, list[StatusSeen]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    relists: int = 0
    resource_version: str = ""

    async def run(self) -> None:
        """Record until cancelled; waits out a dead apiserver instead of failing."""
        await self._relist()
        while True:
            try:
                await self._watch()
            except errors.Gone:
                self.relists += 1
                await self._until_ok(self._relist)
            except errors.KubeError:
                await asyncio.sleep(RETRY)

    async def _until_ok(self, step: Any) -> None:
        while True:
            try:
                return await step()  # type: ignore[no-any-return]
            except errors.KubeError:
                await asyncio.sleep(RETRY)

    async def _relist(self) -> None:
        listed = await self.client.list(
            self.resource, namespace=self.namespace, label_selector=self.label_selector
        )
        for obj in listed.items:
            self._note(obj)
        self.resource_version = listed.resource_version

    async def _watch(self) -> None:
        async for event in self.client.watch(
            self.resource,
            namespace=self.namespace,
            label_selector=self.label_selector,
            resource_version=self.resource_version,
        ):
            self.resource_version = event.object["metadata"]["resourceVersion"]
            if event.type in ("ADDED", "MODIFIED"):
                self._note(event.object)

    def caught_up(self, items: Iterable[JSON]) -> bool:
        """Whether the last status recorded for each of `items` (a fresh list) is theirs."""
        for obj in items:
            history = self.seen.get(obj["metadata"]["uid"]) or [StatusSeen(0, (), "")]
            if (history[-1].conditions, history[-1].chain) != _status_of(obj):
                return False
        return True

    def _note(self, obj: JSON) -> None:
        uid = obj["metadata"]["uid"]
        self.names[uid] = obj["metadata"]["name"]
        conditions, digest = _status_of(obj)
        history = self.seen.setdefault(uid, [])
        if not conditions and not digest:
            return
        if history and (history[-1].conditions, history[-1].chain) == (conditions, digest):
            return  # the same status again (a relist), not a new write
        history.append(StatusSeen(time.monotonic(), conditions, digest))

    def issued_at(self, uid: str) -> float | None:
        return next((s.at for s in self.seen.get(uid, []) if "Issued" in s.conditions), None)

    def issued_times(self, uids: Iterable[str]) -> list[float]:
        return sorted(t for t in (self.issued_at(u) for u in uids) if t is not None)

    def tally(self, uids: Iterable[str]) -> Tally:
        result = Tally()
        for uid in uids:
            result.pcrs += 1
            history = self.seen.get(uid, [])
            issued = [i for i, s in enumerate(history) if "Issued" in s.conditions]
            if any({"Denied", "Failed"} & set(s.conditions) for s in history):
                result.failed += 1
            elif not issued:
                result.lost += 1
            elif len(history) > issued[0] + 1:
                result.twice += 1
            else:
                result.issued_once += 1
        return result


def _status_of(obj: JSON) -> tuple[tuple[str, ...], str]:
    status = obj.get("status") or {}
    conditions = tuple(str(c.get("type")) for c in status.get("conditions") or [])
    chain = status.get("certificateChain") or ""
    return conditions, hashlib.sha256(chain.encode()).hexdigest() if chain else ""


@dataclass(frozen=True, slots=True)
class AuditWrite:
    resource: str  # "podcertificaterequests" or "leases"
    namespace: str
    name: str
    code: int
    groups: tuple[str, ...]
    at: dt.datetime  # when the apiserver received it


def audit_writes(path: Path) -> list[AuditWrite]:
    """The write attempts in an audit log (complete lines only: it may be mid-write)."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        ref = event.get("objectRef") or {}
        found.append(
            AuditWrite(
                resource=str(ref.get("resource", "")),
                namespace=str(ref.get("namespace", "")),
                name=str(ref.get("name", "")),
                code=int((event.get("responseStatus") or {}).get("code") or 0),
                groups=tuple((event.get("user") or {}).get("groups") or ()),
                at=dt.datetime.fromisoformat(event["requestReceivedTimestamp"]),
            )
        )
    return found
