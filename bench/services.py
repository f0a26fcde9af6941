"""Service-count benchmark: service-dns CPU per request with 10 and with 5,000 Services.

Run with `make bench-services` (or `python bench/services.py --pods 1000 --services 10,5000`).
It measures, in process, the path a controller worker runs for one service-dns request once the
request has been read: `ServiceDnsSigner.leaf` (pod lookup, the anchor index probe of
`ClusterCache.services_selecting`, the selector check, the names) and the whole `decide`
(`policy.check`, `leaf`, and signing the leaf with an ECDSA P-256 CA). The caches are the
controller's own: real `Informer`s with the controller's indexes, fed by a list of raw Service
and Pod objects through the informer transforms, exactly as a list from kube-apiserver would.
What it does not measure: API round trips, the work queue and the status write, which do not
depend on Services at all.

Every Service selects `{app: app-<i>, tier: backend}` in one namespace; pod `p` carries
`{app: app-<p mod n>, tier: backend}`, so each pod is selected by one Service whatever n is,
and every Service shares the pair `tier=backend`. For contrast it also times the pre-index
path (a scan of the namespace's Services). CPU is `time.process_time`, the best of
`--repeats` rounds over every pod's request, divided by the pods.

The last line is machine-readable:
`bench-services: leaf_us=<10>/<5000> decide_us=<10>/<5000> leaf_ratio=<r> decide_ratio=<r>`;
the exit status is 1 when a ratio reaches 1.2.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from meshtool.api import decisions, objects, pcr, types
from meshtool.clock import SystemClock
from meshtool.controllers import cache
from meshtool.kube import resources
from meshtool.kube.codec import ListResult, WatchEvent
from meshtool.pki import capool
from meshtool.runtime.informer import Informer
from meshtool.signers import servicedns
from meshtool.testing import pcrforms

NAMESPACE = "bench"
LIMIT = 1.2


class Listed:
    """The informer's client: one list of raw objects, then a watch with nothing to say."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    async def list_pages(self, resource: Any, **_: Any) -> AsyncIterator[ListResult]:
        yield ListResult(items=self.items, resource_version="1")

    async def watch(self, resource: Any, **_: Any) -> AsyncIterator[WatchEvent]:
        await asyncio.Event().wait()
        yield WatchEvent("BOOKMARK", {})


def service_obj(i: int) -> dict[str, Any]:
    meta = {"name": f"svc-{i}", "namespace": NAMESPACE, "resourceVersion": "1"}
    spec = {"type": "ClusterIP", "selector": {"app": f"app-{i}", "tier": "backend"}}
    return {"metadata": meta, "spec": spec}


def pod_obj(p: int, services: int) -> dict[str, Any]:
    labels = {"app": f"app-{p % services}", "tier": "backend", "pod-template-hash": "5d8f"}
    meta = {"name": f"pod-{p}", "namespace": NAMESPACE, "uid": f"uid-{p}", "labels": labels}
    return {"metadata": meta, "spec": {"nodeName": "node-1", "serviceAccountName": "app"}}


def request(p: int, signer_name: str) -> types.PodCertRequest:
    target = pcrforms.PodTarget(NAMESPACE, f"pod-{p}", f"uid-{p}", "app", "sa", "node-1", "nd")
    key = pcrforms.generate_key(types.KeyType.ECDSAP256)
    body = pcrforms.pcr_body(
        pcrforms.KeyForm.STUB, target, version="v1", signer_name=signer_name, key=key
    )
    body["metadata"].update(name=f"req-{p}", uid=f"r-{p}", resourceVersion="1")
    return pcr.parse(body)


async def cluster(services: int, pods: int) -> tuple[cache.ClusterCache, list[asyncio.Task[None]]]:
    """The controller's caches, filled through real informers and their indexes."""
    svc_inf = Informer(
        Listed([service_obj(i) for i in range(services)]),
        resources.SERVICES,
        transform=objects.service_view,
    )
    svc_inf.add_index(cache.NAMESPACE_INDEX, cache.by_namespace)
    svc_inf.add_index(cache.ANCHOR_INDEX, cache.by_anchor)
    pod_objs = [pod_obj(p, services) for p in range(pods)]
    pod_inf = Informer(Listed(pod_objs), resources.PODS, transform=objects.pod_view)
    tasks = [asyncio.create_task(inf.run()) for inf in (svc_inf, pod_inf)]
    await svc_inf.wait_synced()
    await pod_inf.wait_synced()
    unused: Any = None
    view = cache.ClusterCache(pods=pod_inf, services=svc_inf, service_accounts=unused, nodes=unused)
    return view, tasks


@dataclass(slots=True)
class Setup:
    """One Service count's caches and requests, and the best CPU seen for each path."""

    services: int
    run: dict[str, Callable[[], object]]
    best: dict[str, float]


async def setup(services: int, pods: int) -> tuple[Setup, list[asyncio.Task[None]]]:
    view, tasks = await cluster(services, pods)
    signer = servicedns.ServiceDnsSigner()
    pool = capool.new_pool(ca_id="b", name="bench", key_type="ecdsa-p256", clock=SystemClock())
    clock = SystemClock()
    reqs = [request(p, signer.signer_name) for p in range(pods)]
    podviews = [pod for p in range(pods) if (pod := view.pod(NAMESPACE, f"pod-{p}"))]
    for r in reqs:  # every request is answerable: one Service each, and it is issued
        assert isinstance(signer.decide(r, view=view, pool=pool, clock=clock), decisions.Issued)
    run: dict[str, Callable[[], object]] = {
        "leaf": lambda: [signer.leaf(r, view) for r in reqs],
        "decide": lambda: [signer.decide(r, view=view, pool=pool, clock=clock) for r in reqs],
        "scan": lambda: [
            servicedns.service_dns_names(pod, view.services(NAMESPACE)) for pod in podviews
        ],
    }
    return Setup(services, run, dict.fromkeys(run, float("inf"))), tasks


def cpu_us(run: Callable[[], object], count: int) -> float:
    start = time.process_time()
    run()
    return (time.process_time() - start) / count * 1e6


async def measure(counts: list[int], pods: int, repeats: int) -> list[Setup]:
    """Rounds alternate between the Service counts, so that drift (another process, CPU
    frequency) weighs on every count alike; each path keeps its best round."""
    made = [await setup(n, pods) for n in counts]
    setups = [s for s, _ in made]
    for round_ in range(repeats):
        for s in setups:
            for path, run in s.run.items():
                if path == "scan" and round_ % 4:
                    continue  # the scan is slow at 5,000 Services and only for contrast
                s.best[path] = min(s.best[path], cpu_us(run, pods))
    tasks = [t for _, ts in made for t in ts]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return setups


async def main(args: argparse.Namespace) -> int:
    counts = [int(c) for c in args.services.split(",")]
    rows = await measure(counts, args.pods, args.repeats)
    print(f"service-dns CPU per request, {args.pods} pods, best of {args.repeats} rounds")
    print(f"{'services':>9} {'leaf µs':>9} {'decide µs':>10} {'scan µs (pre-index)':>20}")
    for row in rows:
        leaf, decide, scan = (row.best[k] for k in ("leaf", "decide", "scan"))
        print(f"{row.services:>9} {leaf:>9.1f} {decide:>10.1f} {scan:>20.1f}")
    first, last = rows[0].best, rows[-1].best
    leaf_ratio, decide_ratio = last["leaf"] / first["leaf"], last["decide"] / first["decide"]
    print(
        f"bench-services: leaf_us={first['leaf']:.1f}/{last['leaf']:.1f} "
        f"decide_us={first['decide']:.1f}/{last['decide']:.1f} "
        f"leaf_ratio={leaf_ratio:.2f} decide_ratio={decide_ratio:.2f}"
    )
    return 0 if max(leaf_ratio, decide_ratio) < LIMIT else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--services", default="10,5000", help="comma-separated Service counts")
    parser.add_argument("--repeats", type=int, default=30)
    raise SystemExit(asyncio.run(main(parser.parse_args())))
