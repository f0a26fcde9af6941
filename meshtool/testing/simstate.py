"""The kubelet simulator's bookkeeping: tracked pods, their volumes and counters, and writing
those volumes (volume projection) once their sources can contribute.

A pod is tracked when it has at least one `projected` volume with a `podCertificate` or
`clusterTrustBundle` source; those volumes are the only ones the simulator writes. A volume's
payload exists only when every such source in it can contribute (each podCertificate source has
been issued at least once, each clusterTrustBundle source selects something or is optional),
because the kubelet writes a projected volume whole or not at all. A pod is ready when each of
its volumes has been written once. `PodRecord.render` writes each complete volume with one
AtomicWriter swap (`volumes.write_atomic`) and records, instead of raising, a volume whose
payload cannot be built (e.g. an unreadable trust bundle). Creating requests and refreshing
credentials are `podcerts.Projection`'s job, not this module's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshtool.testing import trustbundles, volumes
from meshtool.testing.podcerts import Projection

JSON = dict[str, Any]
DEFAULT_MODE = 0o644
_SOURCE_KINDS = ("podCertificate", "clusterTrustBundle")


@dataclass
class Counters:
    pcrs_created: int = 0
    create_errors: int = 0
    issued: int = 0
    denied: int = 0
    failed: int = 0
    volume_writes: int = 0

    def count(self, condition_type: str) -> None:
        name = condition_type.lower()
        setattr(self, name, getattr(self, name) + 1)


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    sources: tuple[JSON, ...]
    mode: int


def relevant_volumes(pod: Mapping[str, Any]) -> list[Volume]:
    """The pod's projected volumes that carry certificate sources."""
    found = []
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        projected = vol.get("projected")
        if not projected:
            continue
        sources = tuple(projected.get("sources") or [])
        if any(kind in s for s in sources for kind in _SOURCE_KINDS):
            mode = projected.get("defaultMode", DEFAULT_MODE)
            found.append(Volume(vol["name"], sources, mode))
    return found


@dataclass
class PodRecord:
    pod: JSON
    projections: list[Projection] = field(default_factory=list)
    tasks: list[Any] = field(default_factory=list)
    written: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.pod['metadata']['namespace']}/{self.pod['metadata']['name']}"

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"]["uid"])

    def ready(self) -> bool:
        return all(v.name in self.written for v in relevant_volumes(self.pod))

    def render(self, pod_dir: Path, bundles: Iterable[JSON], *, now: dt.datetime) -> int:
        """Write every volume whose payload is complete; returns how many changed on disk."""
        bundles, writes = list(bundles), 0
        for volume in relevant_volumes(self.pod):
            try:
                payload = self.payload(volume, bundles)
            except ValueError as exc:
                self.errors[volume.name] = str(exc)
                continue
            if payload is None:
                continue
            if volumes.write_atomic(pod_dir / volume.name, payload, now=now, mode=volume.mode):
                writes += 1
            self.written.add(volume.name)
        return writes

    def payload(self, volume: Volume, bundles: Iterable[JSON]) -> dict[str, bytes] | None:
        """Everything `volume` shows, or None while a source cannot contribute yet."""
        bundles = list(bundles)
        files: dict[str, bytes] = {}
        for index, source in enumerate(volume.sources):
            if "podCertificate" in source:
                part = self._projection_files(volume.name, index)
            elif "clusterTrustBundle" in source:
                part = _bundle_file(source["clusterTrustBundle"], bundles)
            else:
                continue
            if part is None:
                return None
            files |= part
        return files

    def _projection_files(self, volume: str, index: int) -> dict[str, bytes] | None:
        for projection in self.projections:
            if projection.volume == volume and projection.index == index:
                return projection.files()
        return None


def _bundle_file(source: JSON, bundles: list[JSON]) -> dict[str, bytes] | None:
    content = trustbundles.render(source, bundles)
    return None if content is None else {source["path"]: content}
