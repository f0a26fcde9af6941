"""One `podCertificate` projected-volume source of one pod, as the kubelet tracks it.

Each source runs the kubelet's state machine in its own task:

    pending ──create PCR──► waiting ──Issued──► issued ──refresh due──► waiting (old files kept)
                               │                                          │
                               └──Denied/Failed──► denied / failed ◄──────┘

* Every request gets a fresh key of the source's `keyType`; the key never leaves the process
  until its certificate is issued, and old credentials stay on disk until the new ones land.
* Refresh is due at `status.beginRefreshAt` plus 0-5 min of jitter (the kubelet's), decided with
  the injected clock; the task wakes at least every `tick` seconds to look at the clock, and
  `request_refresh()` makes it due now.
* Denied and Failed are permanent, as in the kubelet: no further requests. Unlike the 1.35
  kubelet we keep already-written files after a refused refresh (the KEP says such errors are
  non-fatal while the old certificate is valid); the state still says why it stopped.
* A PCR that is still not visible 10 min (plus jitter) after its creationTimestamp is presumed
  deleted and requested again. Failed creates are retried with capped exponential backoff.

The task talks to the rest of the simulator only through the small `Host` protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from meshtool import pacing
from meshtool.api import request, wire
from meshtool.api.types import KeyType
from meshtool.clock import Clock
from meshtool.kube import errors
from meshtool.testing import pcrforms, volumes

JSON = dict[str, Any]
ABANDON_AFTER = dt.timedelta(minutes=10)
_BACKOFF_START, _BACKOFF_CAP = 0.2, 10.0


class Phase(enum.Enum):
    PENDING = "pending"
    ISSUED = "issued"
    DENIED = "Denied"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A snapshot of one source for tests: what it holds and what happened to it."""

    volume: str
    index: int
    signer_name: str
    phase: Phase
    pcr_names: tuple[str, ...]
    issued_count: int
    condition: Condition | None
    """The last terminal condition seen (Issued, Denied or Failed)."""
    last_error: str | None
    """The last failed create, kept until a create succeeds."""
    not_after: dt.datetime | None
    begin_refresh_at: dt.datetime | None
    refresh_at: dt.datetime | None


class ProjectionFailed(Exception):
    """A podCertificate source ended Denied or Failed: the pod would stay in ContainerCreating."""

    def __init__(self, namespace: str, pod: str, status: SourceStatus) -> None:
        self.status = status
        cond = status.condition
        detail = f"{cond.type}: {cond.reason}: {cond.message}" if cond else status.phase.value
        super().__init__(f"{namespace}/{pod} volume {status.volume}[{status.index}]: {detail}")


class Host(Protocol):
    clock: Clock
    tick: float

    def jitter(self) -> dt.timedelta: ...

    async def create_pcr(
        self, pod: JSON, source: Mapping[str, Any], key: pcrforms.PrivateKey
    ) -> JSON: ...

    def cached_pcr(self, namespace: str, name: str) -> JSON | None: ...

    async def wait_change(self, timeout: float) -> None: ...

    def credentials_changed(self, projection: Projection) -> None: ...

    def terminal(self, projection: Projection, condition: Condition) -> None: ...


@dataclass(frozen=True, slots=True)
class _Issued:
    chain: bytes
    not_after: dt.datetime
    begin_refresh_at: dt.datetime


def terminal_condition(pcr: Mapping[str, Any]) -> Condition | None:
    """The PCR's terminal condition, as `meshtool.api.request.terminal_condition` decides it,
    with that condition's reason and message."""
    conditions: list[JSON] = (pcr.get("status") or {}).get("conditions") or []
    terminal = request.terminal_condition(conditions)
    if terminal is None:
        return None
    cond = next(
        c for c in conditions if c.get("type") == terminal.value and c.get("status") == "True"
    )
    return Condition(terminal.value, cond.get("reason", ""), cond.get("message", ""))


class Projection:
    def __init__(self, host: Host, pod: JSON, *, volume: str, index: int, source: JSON) -> None:
        self.host, self.pod, self.volume, self.index, self.source = host, pod, volume, index, source
        self.namespace: str = pod["metadata"]["namespace"]
        self.phase = Phase.PENDING
        self.key_pem: bytes | None = None
        self.chain: bytes | None = None
        self.issued_count = 0
        self.pcr_names: list[str] = []
        self.condition: Condition | None = None
        self.last_error: str | None = None
        self._times: _Issued | None = None
        self._refresh_at: dt.datetime | None = None
        self._refresh_now = asyncio.Event()

    def files(self) -> dict[str, bytes] | None:
        """This source's files, or None before the first issuance."""
        if self.key_pem is None or self.chain is None:
            return None
        return volumes.credential_files(self.source, self.key_pem, self.chain)

    def request_refresh(self) -> None:
        self._refresh_now.set()

    def raise_if_refused(self) -> None:
        """Raise `ProjectionFailed` once this source has ended Denied or Failed."""
        if self.phase in (Phase.DENIED, Phase.FAILED):
            raise ProjectionFailed(self.namespace, self.pod["metadata"]["name"], self.status())

    def status(self) -> SourceStatus:
        times = self._times
        return SourceStatus(
            volume=self.volume,
            index=self.index,
            signer_name=self.source["signerName"],
            phase=self.phase,
            pcr_names=tuple(self.pcr_names),
            issued_count=self.issued_count,
            condition=self.condition,
            last_error=self.last_error,
            not_after=times.not_after if times else None,
            begin_refresh_at=times.begin_refresh_at if times else None,
            refresh_at=self._refresh_at,
        )

    async def run(self) -> None:
        """Obtain credentials, then refresh them whenever due, until refused or cancelled."""
        while await self._obtain():
            await self._until_refresh_due()

    async def _obtain(self) -> bool:
        key_type = KeyType(self.source["keyType"])
        while True:
            key = await asyncio.to_thread(pcrforms.generate_key, key_type)
            pcr = await self._create(key)
            found = await self._await_terminal(pcr)
            if found is not None:
                return self._settle(found, key)

    async def _create(self, key: pcrforms.PrivateKey) -> JSON:
        failures = 0
        while True:
            try:
                pcr = await self.host.create_pcr(self.pod, self.source, key)
            except errors.KubeError as exc:
                self.last_error = str(exc)
                await asyncio.sleep(pacing.backoff(failures, base=_BACKOFF_START, cap=_BACKOFF_CAP))
                failures += 1
                continue
            self.last_error = None
            self.pcr_names.append(pcr["metadata"]["name"])
            return pcr

    async def _await_terminal(self, created: JSON) -> tuple[Condition, JSON] | None:
        """The terminal condition and object; None when the PCR seems deleted (recreate)."""
        meta = created["metadata"]
        abandon_at = wire.parse_time(meta["creationTimestamp"]) + ABANDON_AFTER + self.host.jitter()
        while True:
            pcr = self.host.cached_pcr(self.namespace, meta["name"])
            if pcr is not None and (condition := terminal_condition(pcr)) is not None:
                return condition, pcr
            if pcr is None and self.host.clock.now() >= abandon_at:
                return None
            await self.host.wait_change(self.host.tick)

    def _settle(self, found: tuple[Condition, JSON], key: pcrforms.PrivateKey) -> bool:
        condition, pcr = found
        self.condition = condition
        if condition.type != "Issued":
            self.phase = Phase(condition.type)
            self.host.terminal(self, condition)
            return False
        status = pcr["status"]
        self._times = _Issued(
            chain=volumes.clean_chain(status["certificateChain"].encode()),
            not_after=wire.parse_time(status["notAfter"]),
            begin_refresh_at=wire.parse_time(status["beginRefreshAt"]),
        )
        self._refresh_at = self._times.begin_refresh_at + self.host.jitter()
        self.key_pem, self.chain = pcrforms.private_key_pem(key), self._times.chain
        self.phase = Phase.ISSUED
        self.host.credentials_changed(self)
        self.issued_count += 1
        self.host.terminal(self, condition)
        return True

    async def _until_refresh_due(self) -> None:
        assert self._refresh_at is not None
        while not self._refresh_now.is_set():
            remaining = (self._refresh_at - self.host.clock.now()).total_seconds()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, self.host.tick)):
                    await self._refresh_now.wait()
        self._refresh_now.clear()
