"""Two clusters, two trust domains, federated both ways (issue 11, Build item 5).

east (`east.test`) and west (`west.test`) each run their own kube-apiserver + etcd, meshtool
controller with its own CA pool, bundle endpoint (`https_spiffe`, refresh hint 5 s) and kubelet
simulator. Each operator fetches the peer's bundle once out of band and declares a
FederatedTrustDomain for it. Then (`meshtool.testing.federationstory`): a client pod in east
and a server pod in west talk mTLS through demo-server and https-client, each verifying the other
with the peer trust domain's bundle from its credential folder; each SVID verifies (X.509
verifier) against its own trust domain's file only; a CA prepared in east reaches west's
federated bundle and the server's folder at the next refresh; after east de-federates west,
east's bundle for west and the client's `west.test` file are gone and the same call is refused.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from meshtool.testing import binaries, federationstory, processes, twoclusters
from meshtool.testing.binaries import BinariesUnavailable
from meshtool.testing.pytest_plugin import SKIP_HINT, in_ci

pytestmark = [pytest.mark.all_versions, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[3]


async def test_two_clusters_federated_both_ways(k8s_version: str, tmp_path: Path) -> None:
    try:
        await asyncio.to_thread(binaries.locate, k8s_version)
    except BinariesUnavailable as exc:
        if in_ci():
            raise
        pytest.skip(f"{SKIP_HINT}: {exc}")
    async with twoclusters.started(
        version=k8s_version, repo=REPO, workdir=tmp_path, refresh_hint=5
    ) as pair:
        report = await federationstory.run(pair, logs=tmp_path)
        clusters = [c for c in (pair.east, pair.west) if c.controller is not None]
        logs = {c.name: c.controller.log() for c in clusters if c.controller}
        failed = {
            c.name: c.controller.metric_sum("meshtool_failed_total")
            for c in clusters
            if c.controller
        }
        pids = [pid for c in clusters for pid in (*c.plane.pids, c.controller.pid)]
    alive = [line for line in processes.leftovers() if int(line.split()[0]) in pids]
    assert alive == [], "processes left running after both clusters stopped"
    lines = "\n".join(report.lines())
    print(f"\nspiffe-federation on Kubernetes {k8s_version}:\n{lines}")
    tails = "\n".join(f"--- {name} controller log:\n{log[-4000:]}" for name, log in logs.items())
    assert report.passed, f"{lines}\n{tails}"
    assert failed == {"east": 0, "west": 0}, tails
    for name, log in logs.items():
        assert "PRIVATE KEY" not in log, f"key material reached {name}'s controller log"
