"""Which waiting keys a change should wake: a small index from dependencies to keys.

A reconciler that cannot finish a key yet (a request waiting for a Service, say) registers the
key under the dependencies whose change might let it finish; the app's informer handlers ask
`waiting_on(dependency)` and re-enqueue those keys. It is the general form of "wake this
request when X changes": the index knows nothing of what a key or a dependency means.

Invariants: a key is registered under exactly the dependencies of its last `wait` (a new wait
replaces the old set, an empty one unregisters it); `release` forgets it everywhere; no empty
entry is kept, so the index's size is bounded by the waiting keys. Waking does not unregister:
the key stays until its reconcile releases it or waits again. Not thread-safe; no I/O.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
D = TypeVar("D", bound=Hashable)


class Wakeups(Generic[K, D]):
    def __init__(self) -> None:
        self._by_dependency: dict[D, set[K]] = {}
        self._by_key: dict[K, frozenset[D]] = {}

    def wait(self, key: K, dependencies: Iterable[D]) -> None:
        """Register `key` under `dependencies`, replacing what it waited on before."""
        self.release(key)
        deps = frozenset(dependencies)
        if not deps:
            return
        self._by_key[key] = deps
        for dep in deps:
            self._by_dependency.setdefault(dep, set()).add(key)

    def release(self, key: K) -> None:
        for dep in self._by_key.pop(key, ()):
            keys = self._by_dependency[dep]
            keys.discard(key)
            if not keys:
                del self._by_dependency[dep]

    def waiting_on(self, dependency: D) -> list[K]:
        return list(self._by_dependency.get(dependency, ()))

    def __len__(self) -> int:
        return len(self._by_key)
