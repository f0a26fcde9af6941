"""Two trust domains on two local clusters, federated both ways through their bundle endpoints.

`started(...)` starts `east` (trust domain `east.test`) and `west` (`west.test`) side by side,
each a `SpiffeCluster` with its own control plane, controller, CA pool, bundle endpoint port and
kubelet simulator; if either fails to start, the other is stopped too, and leaving the context
stops both. `federate_both_ways` is what the two operators do: each fetches the other's bundle
once out of band (the bootstrap bundle), declares a FederatedTrustDomain for it with the
`https_spiffe` profile, then waits until its cluster publishes the peer's federated
ClusterTrustBundle. A SPIFFE relationship is one-way, so mTLS needs both.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from meshtool.testing.spiffecluster import SpiffeCluster, until

FEDERATION_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Pair:
    east: SpiffeCluster
    west: SpiffeCluster


@contextlib.asynccontextmanager
async def started(
    *, version: str, repo: Path, workdir: Path, refresh_hint: int = 5
) -> AsyncIterator[Pair]:
    pair = Pair(
        *(
            SpiffeCluster(
                name=name,
                trust_domain=f"{name}.test",
                version=version,
                repo=repo,
                workdir=workdir / name,
                refresh_hint=refresh_hint,
            )
            for name in ("east", "west")
        )
    )
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(pair.east.stop)
        stack.push_async_callback(pair.west.stop)
        async with asyncio.TaskGroup() as group:  # one failing cancels (and stops) the other
            group.create_task(pair.east.start())
            group.create_task(pair.west.start())
        yield pair


async def federate_both_ways(pair: Pair, *, timeout: float = FEDERATION_TIMEOUT) -> None:
    await pair.east.federate(pair.west)
    await pair.west.federate(pair.east)
    await wait_federated(pair.east, pair.west.trust_domain, timeout=timeout)
    await wait_federated(pair.west, pair.east.trust_domain, timeout=timeout)


async def wait_federated(cluster: SpiffeCluster, peer_td: str, *, timeout: float) -> None:
    async def published() -> bool:
        return bool(await cluster.bundles_for(peer_td))

    await until(published, timeout=timeout, what=f"{cluster.name}'s bundle for {peer_td}")


async def wait_defederated(cluster: SpiffeCluster, peer_td: str, *, timeout: float) -> None:
    async def gone() -> bool:
        return not await cluster.bundles_for(peer_td)

    await until(gone, timeout=timeout, what=f"{cluster.name} to drop its bundle for {peer_td}")
