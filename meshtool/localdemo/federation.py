"""The `spiffe-federation` scenario of `meshtool demo`: two more local clusters, federated.

Two control planes of their own, `east` (trust domain `east.test`) and `west` (`west.test`),
each with a meshtool controller, CA pool and `https_spiffe` bundle endpoint
(`meshtool.testing.twoclusters`), run the story the two-cluster test runs
(`meshtool.testing.federationstory`): federation both ways with bootstrap bundles fetched out of
band, mTLS from east's client to west's server with per-trust-domain verification, a CA rotation
in east reaching west at the next refresh, and the call refused after de-federation. The report
lists the trust domains, the bundle sequences, the mTLS call, the rotation and the refusal.
It returns whether every check passed; both clusters are stopped before it returns.
"""

from __future__ import annotations

from pathlib import Path

from meshtool.testing import federationstory, twoclusters

NAME = "spiffe-federation"
REFRESH_HINT = 5


async def run(repo: Path, workdir: Path, *, version: str) -> bool:
    print(f"==> {NAME}: two more control planes, east.test and west.test, federated", flush=True)
    async with twoclusters.started(
        version=version, repo=repo, workdir=workdir / "federation", refresh_hint=REFRESH_HINT
    ) as pair:
        report = await federationstory.run(pair, logs=workdir)
    print(f"\n[{'PASS' if report.passed else 'FAIL'}] {NAME}")
    for line in report.lines():
        print(f"    {line}")
    return report.passed
