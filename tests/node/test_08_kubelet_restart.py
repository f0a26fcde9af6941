"""A kubelet restart (it keeps private keys only in memory) yields new PCRs for the running
pods' certificate volumes, all issued, and the pods keep running."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from typing import Any

import pytest

from .nodekit import Kubectl, condition_types, pcrs, ready, report, wait_for

pytestmark = [pytest.mark.node, pytest.mark.timeout(600)]


def sources(pod: dict[str, Any]) -> int:
    volumes = pod["spec"].get("volumes") or []
    found = [s for v in volumes for s in (v.get("projected") or {}).get("sources") or []]
    return sum("podCertificate" in s for s in found)


def test_a_kubelet_restart_yields_new_issued_pcrs(quickstart: Kubectl) -> None:
    pods = [
        p
        for p in quickstart.json("get", "pods", "-A")["items"]
        if ready(p) and sources(p) and not p["metadata"].get("deletionTimestamp")
    ]
    assert len(pods) >= 6
    wanted = {p["metadata"]["uid"]: sources(p) for p in pods}
    restarts = {
        p["metadata"]["uid"]: p["status"]["containerStatuses"][0]["restartCount"] for p in pods
    }
    since = dt.datetime.now(dt.UTC).replace(microsecond=0)
    # In a child process: the new kubelet's Popen must not be collected while pytest watches.
    subprocess.run([sys.executable, "-m", "meshtool.testing.node", "restart-kubelet"], check=True)
    new = wait_for(
        "new Issued PCRs for every running pod", lambda: renewed(quickstart, wanted, since), 300
    )
    for p in quickstart.json("get", "pods", "-A")["items"]:
        if p["metadata"]["uid"] in restarts:
            assert (
                p["status"]["containerStatuses"][0]["restartCount"]
                == restarts[p["metadata"]["uid"]]
            )
    report(
        "kubelet restart",
        "\n".join(
            f"{r['metadata']['namespace']}/{r['spec']['podName']}: {r['metadata']['name']} "
            f"created {r['metadata']['creationTimestamp']} {condition_types(r)}"
            for r in new
        ),
    )


def renewed(kubectl: Kubectl, wanted: dict[str, int], since: dt.datetime) -> list[Any] | None:
    fresh = [
        r
        for r in pcrs(kubectl, "-A")
        if r["spec"]["podUID"] in wanted
        and dt.datetime.fromisoformat(r["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
        >= since
    ]
    counts = {uid: sum(r["spec"]["podUID"] == uid for r in fresh) for uid in wanted}
    done = all(counts[uid] >= n for uid, n in wanted.items())
    return fresh if done and all(condition_types(r) == ["Issued"] for r in fresh) else None
