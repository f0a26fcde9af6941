"""Rendezvous (highest-random-weight) hashing: which live replica owns a key.

Every replica scores every (replica, key) pair with the same hash and the highest score owns
the key. Nothing is coordinated: replicas that agree on the set of live replicas agree on every
owner, with no messages exchanged. Ownership is a hint, not a lock; during membership changes
two replicas may briefly both think they own a key, so work done under it must be idempotent.

Minimal movement, the reason to use HRW rather than `hash(key) % n`: a key's scores against
the other replicas do not depend on who else is live, so when a replica leaves, only the keys
it owned move (each to its runner-up), and when one joins, only the keys it now wins move to it.
With n replicas a join or leave moves about 1/n of the keys.

The score is the first 8 bytes of BLAKE2b over `replica NUL key` (UTF-8), read big-endian. It is
stable across processes, machines and Python versions (unlike the salted built-in `hash()`),
and the NUL separator keeps ("ab", "c") and ("a", "bc") apart; Kubernetes names cannot contain
NUL. Exact ties are broken towards the smaller replica id, so the answer never depends on the
order `replicas` is given in. Pure functions only; who is live comes from `membership`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from typing import NewType, TypeVar

ReplicaId = NewType("ReplicaId", str)
"""A replica's name, as written in its Lease (usually the pod name)."""

R = TypeVar("R", bound=str)
K = TypeVar("K", bound=str)


def score(replica: str, key: str) -> int:
    """The replica's weight for the key: a 64-bit unsigned integer."""
    digest = hashlib.blake2b(f"{replica}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(key: str, replicas: Collection[R]) -> R | None:
    """The replica that owns `key`, or None if there are no replicas."""
    if not replicas:
        return None
    return min(replicas, key=lambda replica: (-score(replica, key), replica))


def owned(keys: Iterable[K], me: str, replicas: Collection[str]) -> list[K]:
    """The keys, in input order, that `me` owns among `replicas`."""
    return [key for key in keys if owner(key, replicas) == me]
