"""One controller replica deleted during a burst of 100 new pods: every PCR issued exactly once.

A `kubectl get -w --output-watch-events -o json` of the burst namespace's PCRs records every
write; each PCR must end with exactly one condition, Issued, and its certificate chain must
never be written twice (a second replica re-issuing would write a new chain).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from .nodekit import Kubectl, condition_types, pcrs, report, wait_for
from .test_03_key_types import namespace, pod, podcert

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

NAMESPACE = "burst"
PODS = 100


def watch(kubectl: Kubectl, out: Path) -> subprocess.Popen[bytes]:
    args = ["-n", NAMESPACE, "get", "podcertificaterequests", "-w", "--output-watch-events"]
    with open(out, "wb") as sink:
        return subprocess.Popen(
            [kubectl.binary, f"--kubeconfig={kubectl.kubeconfig}", *args, "-o", "json"],
            stdout=sink,
            stderr=subprocess.DEVNULL,
        )


def events(path: Path) -> list[dict[str, Any]]:
    text, found, decoder, at = path.read_text(), [], json.JSONDecoder(), 0
    while (at := _skip(text, at)) < len(text):
        event, at = decoder.raw_decode(text, at)
        found.append(event)
    return found


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def chains_written(log: list[dict[str, Any]]) -> dict[str, set[str]]:
    chains: dict[str, set[str]] = {}
    for event in log:
        obj = event["object"]
        chain = obj.get("status", {}).get("certificateChain")
        chains.setdefault(obj["metadata"]["name"], set()).update([chain] if chain else [])
    return chains


def test_burst_with_a_replica_deleted(quickstart: Kubectl, tmp_path: Path) -> None:
    quickstart.apply(namespace(NAMESPACE))
    recorder = watch(quickstart, tmp_path / "watch.json")
    try:
        time.sleep(2)
        docs = [pod(f"p{i:03}", [podcert("ECDSAP256")], NAMESPACE) for i in range(PODS)]
        applying = subprocess.Popen(
            [quickstart.binary, f"--kubeconfig={quickstart.kubeconfig}", "apply", "-f", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        assert applying.stdin is not None
        applying.stdin.write(yaml.safe_dump_all(docs).encode())
        applying.stdin.close()
        wait_for("the first burst PCR", lambda: pcrs(quickstart, "-n", NAMESPACE), 120)
        victim = quickstart("-n", "mesh-controller", "get", "pods", "-o", "name").split()[0]
        quickstart("-n", "mesh-controller", "delete", victim, "--wait=false")
        issued_at_delete = sum(
            condition_types(p) == ["Issued"] for p in pcrs(quickstart, "-n", NAMESPACE)
        )
        assert applying.wait(timeout=180) == 0
        final = wait_for("100 burst PCRs Issued", lambda: all_issued(quickstart), 480)
        time.sleep(5)  # let the watch catch up with the last writes
    finally:
        recorder.terminate()
        recorder.wait()
    chains = chains_written(events(tmp_path / "watch.json"))
    assert set(chains) == {p["metadata"]["name"] for p in final}
    twice = {name: len(c) for name, c in chains.items() if len(c) != 1}
    assert not twice, f"chains written more or less than once: {twice}"
    assert all(condition_types(p) == ["Issued"] for p in final)
    report(
        "burst",
        f"{len(final)} PCRs, {issued_at_delete} issued when {victim} was deleted; every PCR "
        f"has exactly one condition (Issued) and one certificate chain across "
        f"{len(events(tmp_path / 'watch.json'))} watch events",
    )
    # kubectl's own --timeout ends the wait; the subprocess bound only catches a hung kubectl.
    quickstart("delete", "namespace", NAMESPACE, "--timeout=480s", timeout=540)


def all_issued(kubectl: Kubectl) -> list[dict[str, Any]] | None:
    found = pcrs(kubectl, "-n", NAMESPACE)
    done = len(found) == PODS and all("Issued" in condition_types(p) for p in found)
    return found if done else None
