"""Helpers of the real-node tests: kubectl on the cluster, waiting, reading what the kubelet wrote.

Concept: the tests only observe the cluster from outside, as an operator would: kubectl with the
admin kubeconfig, the files the real kubelet wrote under its root dir on this host
(`<kubelet root>/pods/<uid>/volumes/kubernetes.io~projected/<volume>/`), and real verifiers for
the chains (OpenSSL's store for Ed25519 CAs, which cryptography's verifier refuses).
Invariant: every wait is bounded and fails with the last thing it saw.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import verification
from OpenSSL import crypto

from meshtool.pki import pem
from meshtool.testing.node import cluster

ROOT = Path(__file__).resolve().parents[2]
JSON = dict[str, Any]
KEY_TYPES = ("RSA3072", "RSA4096", "ECDSAP256", "ECDSAP384", "ECDSAP521", "ED25519")


class Kubectl:
    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.binary = str(cluster.Paths(cluster.cluster_dir()).bin("kubectl"))

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.binary, f"--kubeconfig={self.kubeconfig}", *args]
        return subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, check=False, timeout=timeout
        )

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 180) -> str:
        result = self.run(*args, stdin=stdin, timeout=timeout)
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))

    def apply(self, *docs: JSON) -> None:
        self("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))


def wait_for(what: str, check: Callable[[], Any], timeout: float = 300.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(2)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})")


def ready(pod: JSON) -> bool:
    statuses = pod["status"].get("containerStatuses") or []
    phase = pod["status"].get("phase")
    return phase == "Running" and bool(statuses) and all(s["ready"] for s in statuses)


def running_ready(pods: JSON) -> list[str]:
    return [p["metadata"]["name"] for p in pods["items"] if ready(p)]


def pcrs(kubectl: Kubectl, *args: str) -> list[JSON]:
    items: list[JSON] = kubectl.json("get", "podcertificaterequests", *args)["items"]
    return items


def condition_types(pcr: JSON) -> list[str]:
    return [c["type"] for c in pcr.get("status", {}).get("conditions") or []]


def volume_dir(pod: JSON, volume: str) -> Path:
    """Where the real kubelet wrote the pod's projected volume on this host."""
    root = cluster.Paths(cluster.cluster_dir()).kubelet / "root"
    uid = pod["metadata"]["uid"]
    return root / "pods" / uid / "volumes" / "kubernetes.io~projected" / volume


def leaf_serial(bundle: Path) -> str:
    return f"{pem.credential(bundle.read_bytes()).chain[0].serial_number:x}"


def key_type(key: Any) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ECDSAP256", "secp384r1": "ECDSAP384", "secp521r1": "ECDSAP521"}[
            key.curve.name
        ]
    assert isinstance(key, ed25519.Ed25519PublicKey), type(key)
    return "ED25519"


def verify(chain: tuple[x509.Certificate, ...], anchors_pem: bytes) -> None:
    """Raise unless `chain` (leaf first) verifies as a client chain against the anchors."""
    anchors = pem.certificates(anchors_pem)
    assert anchors, "the trust bundle is empty"
    if isinstance(anchors[0].public_key(), ed25519.Ed25519PublicKey):
        store = crypto.X509Store()
        for anchor in anchors:
            store.add_cert(crypto.X509.from_cryptography(anchor))
        untrusted = [crypto.X509.from_cryptography(c) for c in chain[1:]]
        leaf = crypto.X509.from_cryptography(chain[0])
        crypto.X509StoreContext(store, leaf, untrusted).verify_certificate()
        return
    builder = verification.PolicyBuilder().store(verification.Store(list(anchors)))
    verifier = builder.time(dt.datetime.now(dt.UTC)).build_client_verifier()
    verifier.verify(chain[0], list(chain[1:]))


def report(title: str, text: str) -> None:
    print(f"\n===== {title}\n{text.rstrip()}\n", flush=True)
