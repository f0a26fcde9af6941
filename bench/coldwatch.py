"""Cold watch cache: how often kube-apiserver terminates the Go reference controller's watch.

`issuance.py --skip-ceilings` starts the controller against a fresh apiserver, and there the
apiserver sometimes terminates PCR watches during the burst (meshtool's, the benchmark's own and
the apiserver's internal one together). This script asks whether that is the client's doing:
it runs only the Go reference controller (`gocontroller.py`, client-go), first thing on a fresh
control plane, under the same kubelet burst, `--runs` times, and prints each run's terminated
PCR watches with the apiserver's own log line for each (its `len(c.input)` and `len(c.result)`
are the watcher's two buffers when it was cut).

Why a fresh apiserver matters (k8s.io/apiserver v0.37.2, `pkg/storage/cacher`): a watcher's
buffer is sized when its watch starts, from the watch cache's capacity then (capacity / 75 s,
at least 10 events); a watch opened before any burst gets 10 slots. When a watcher's buffer is
full, the cacher waits for it from a dispatch budget shared by all watchers of the resource
(refilled at 50 ms per second, at most 100 ms) and then cuts it. `make bench` runs the
controller after the ceilings, when the watch cache has grown.

Usage: `python bench/coldwatch.py --pods 2000 --runs 3`; the last line is
`coldwatch: runs=<n> terminated=<a>,<b>,...`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from goceiling import forced_close_lines, terminated_watchers
from gocontroller import go_controller
from pcrload import Fleet

from meshtool.clock import SystemClock
from meshtool.pki import capool
from meshtool.testing import nodeapi, pcrforms
from meshtool.testing.controlplane import ControlPlane

RESOURCE = "podcertificaterequests"


async def one_run(pods: int, work: Path) -> float:
    async with ControlPlane("1.37", work / "k8s", apiserver_flags=["-v=1"]) as cp:
        admin = cp.client(qps=1e6, burst=1_000_000)
        fl = Fleet(cp, admin, 20)
        try:
            await fl.prepare()
            version = (await nodeapi.served_versions(admin, RESOURCE))[0]
            form = pcrforms.default_form(version, await nodeapi.server_minor(admin))
            pool = capool.new_pool(ca_id="1", name="row-major.net/spiffe", clock=SystemClock())
            before = await terminated_watchers(cp, RESOURCE)
            ref = await go_controller(fl, cp.kubeconfig, version, form, pods, 16, pool, work)
            terminated = await terminated_watchers(cp, RESOURCE) - before
        finally:
            await fl.aclose()
            await admin.aclose()
        print(f"run: {ref.rate:.0f} PCR/s, {ref.cpu_ms_per_pcr:.2f} ms/PCR, {terminated:.0f} cut")
        for line in forced_close_lines(cp, RESOURCE):
            print("  " + line.partition("] ")[2])
        return terminated


async def main(pods: int, runs: int) -> None:
    counts = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="meshtool-coldwatch-") as work:
            counts.append(await one_run(pods, Path(work)))
    print(f"coldwatch: runs={runs} terminated={','.join(f'{c:.0f}' for c in counts)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.pods, args.runs))
