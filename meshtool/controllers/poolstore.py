"""Where a CA pool is kept, and updating it without losing a concurrent writer's CA.

A store reads the pool with a version and writes it back only if that version is still
current: a Secret (`replace` carrying `metadata.resourceVersion`, so the apiserver answers 409
to a stale write) or a plain file (the version is a digest of its bytes, re-checked just before
an atomic write by `meshtool.files`; a file has no true compare-and-swap, so this is best effort
for one host).

`update(store, transition)` is the one write path for the `meshtool ca` commands and the
rotation controller: read, apply the pure transition to the fresh pool, write; on a conflict,
read again and re-apply. Transitions are pure and idempotent (`meshtool.pki.lifecycle`), so a
re-apply on top of someone else's change keeps both: no CA is ever lost. A transition that
changes nothing writes nothing.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from meshtool import files
from meshtool.clock import Clock
from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.pki import capool

Transition = Callable[[capool.CAPool], capool.CAPool]


class Stale(Exception):
    """The pool changed since it was read."""


@dataclass(frozen=True, slots=True)
class Read:
    pool: capool.CAPool
    version: str
    raw: bytes


class PoolStore(Protocol):
    where: str

    async def read(self) -> Read: ...

    async def write(self, pool: capool.CAPool, version: str) -> None:
        """Raise `Stale` when `version` is no longer current."""


class SecretStore:
    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        *,
        clock: Clock,
        allow_expired: bool = False,
    ) -> None:
        self._client, self.namespace, self.name = client, namespace, name
        self._clock, self._allow_expired = clock, allow_expired
        self.where = f"Secret {namespace}/{name}"

    async def read(self) -> Read:
        obj = await self._client.get(resources.SECRETS, self.name, namespace=self.namespace)
        raw = secret_pool_bytes(obj, self.where)
        pool = capool.load(raw, clock=self._clock, allow_expired=self._allow_expired)
        return Read(pool, str(obj["metadata"]["resourceVersion"]), raw)

    async def write(self, pool: capool.CAPool, version: str) -> None:
        obj = await self._client.get(resources.SECRETS, self.name, namespace=self.namespace)
        obj["metadata"]["resourceVersion"] = version
        obj.setdefault("data", {})[capool.SECRET_KEY] = base64.b64encode(capool.dump(pool)).decode(
            "ascii"
        )
        try:
            await self._client.replace(resources.SECRETS, self.name, obj, namespace=self.namespace)
        except errors.Conflict:
            raise Stale(self.where) from None


def secret_pool_bytes(obj: dict[str, Any], where: str) -> bytes:
    data = (obj.get("data") or {}).get(capool.SECRET_KEY)
    if not isinstance(data, str):
        raise capool.CAPoolError(f"{where}: no data key {capool.SECRET_KEY!r}")
    return base64.b64decode(data)


class FileStore:
    def __init__(self, path: Path, *, clock: Clock, allow_expired: bool = False) -> None:
        self.path, self._clock, self._allow_expired = path, clock, allow_expired
        self.where = str(path)

    async def read(self) -> Read:
        raw = self.path.read_bytes()
        pool = capool.load(raw, clock=self._clock, allow_expired=self._allow_expired)
        return Read(pool, hashlib.sha256(raw).hexdigest(), raw)

    async def write(self, pool: capool.CAPool, version: str) -> None:
        if hashlib.sha256(self.path.read_bytes()).hexdigest() != version:
            raise Stale(self.where)
        files.write(self.path, capool.dump(pool), replace=True)


async def update(store: PoolStore, transition: Transition, *, attempts: int = 10) -> Read:
    """Apply `transition` to the current pool and store it; re-read and re-apply on conflict."""
    for _ in range(attempts):
        current = await store.read()
        new = transition(current.pool)
        if new is current.pool or capool.dump(new) == current.raw:
            return current
        try:
            await store.write(new, current.version)
        except Stale:
            continue
        return Read(new, "", capool.dump(new))
    raise RuntimeError(f"{store.where}: gave up after {attempts} conflicting writes")
