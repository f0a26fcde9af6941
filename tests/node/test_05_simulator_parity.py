"""The simulator stays honest: one pod spec through the real kubelet and through
`KubeletSimulator` (as a second, unschedulable node of the same cluster), compared.

Compared: the PCR specs (every field except key material, names, UIDs and times; the key type is
read from the stub CSR) and the volume trees (names, kinds, modes, the `..data` symlink layout
with the timestamped directory name normalised, and the PEM block types in each file).
"""

from __future__ import annotations

import base64
import difflib
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from meshtool.clock import SystemClock
from meshtool.kube.client import KubeClient
from meshtool.testing import pki
from meshtool.testing.kubelet import KubeletSimulator
from meshtool.testing.node import cluster, credentials

from .nodekit import Kubectl, key_type, pcrs, ready, report, volume_dir, wait_for
from .test_03_key_types import TRUST, namespace, podcert

pytestmark = [pytest.mark.node, pytest.mark.timeout(600)]

NAMESPACE = "parity"
SIM_NODE = "meshtool-sim"
IGNORED_SPEC = {"nodeName", "nodeUID", "podName", "podUID", "serviceAccountUID",
                "pkixPublicKey", "proofOfPossession", "stubPKCS10Request"}  # fmt: skip
SOURCES = [
    podcert("ECDSAP384", "ec.pem"),
    podcert("ED25519", "ed.pem"),
    {"podCertificate": podcert("RSA3072")["podCertificate"]
     | {"credentialBundlePath": None, "keyPath": "rsa.key", "certificateChainPath": "rsa.crt"}},
]  # fmt: skip
for _s in SOURCES:
    _s["podCertificate"] = {k: v for k, v in _s["podCertificate"].items() if v is not None}


def spec(name: str, node: str | None) -> dict[str, Any]:
    mounts = [{"name": v, "mountPath": f"/run/{v}", "readOnly": True} for v in ("creds", "trust")]
    container = {"name": "c", "image": "localhost/pause:1", "imagePullPolicy": "Never",
                 "volumeMounts": mounts}  # fmt: skip
    volumes = [
        {"name": "creds", "projected": {"sources": SOURCES}},
        {"name": "trust", "projected": {"sources": [{"clusterTrustBundle": TRUST}]}},
    ]
    body: dict[str, Any] = {"containers": [container], "volumes": volumes}
    if node:
        body["nodeName"] = node
    meta = {"name": name, "namespace": NAMESPACE}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body}


def sim_client(tmp: Path) -> KubeClient:
    p = cluster.Paths(cluster.cluster_dir())
    ca = pki.KeyPair(
        serialization.load_pem_private_key((p.pki / "ca.key").read_bytes(), None),  # type: ignore[arg-type]
        x509.load_pem_x509_certificate((p.pki / "ca.crt").read_bytes()),
    )
    user = pki.client_cert(ca, f"system:node:{SIM_NODE}", ["system:nodes"])
    server = f"https://{cluster.NODE_IP}:6443"
    credentials.write_kubeconfig(tmp / "sim.kubeconfig", server, ca, user)
    return KubeClient.from_kubeconfig(tmp / "sim.kubeconfig")


def pcr_view(pcr: dict[str, Any]) -> dict[str, Any]:
    csr = x509.load_der_x509_csr(base64.b64decode(pcr["spec"]["stubPKCS10Request"]))
    kept = {k: v for k, v in pcr["spec"].items() if k not in IGNORED_SPEC}
    owners = [{k: v for k, v in o.items() if k not in ("name", "uid")}
              for o in pcr["metadata"].get("ownerReferences", [])]  # fmt: skip
    meta = {k: pcr["metadata"].get(k) for k in ("generateName", "labels", "annotations")}
    return {"keyType": key_type(csr.public_key()), "spec": kept, "owners": owners, **meta}


def tree(root: Path) -> list[str]:
    lines = []
    for dirpath, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(dirpath, name)
            lines.append(describe(path, root))
    return sorted(lines)


def describe(path: Path, root: Path) -> str:
    rel = norm(str(path.relative_to(root)))
    st = path.lstat()
    mode = oct(stat.S_IMODE(st.st_mode))
    if stat.S_ISLNK(st.st_mode):
        return f"{rel} -> {norm(os.readlink(path))}"
    if stat.S_ISDIR(st.st_mode):
        return f"{rel}/ {mode}"
    blocks = re.findall(rb"-----BEGIN ([A-Z ]+)-----", path.read_bytes())
    return f"{rel} {mode} {[b.decode() for b in blocks]}"


def norm(name: str) -> str:
    return re.sub(r"\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d+", "..<timestamp>", name)


async def test_real_kubelet_and_simulator_agree(quickstart: Kubectl, tmp_path: Path) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": SIM_NODE},
            "spec": {"unschedulable": True}}  # fmt: skip
    quickstart.apply(namespace(NAMESPACE), node)
    try:
        async with (
            sim_client(tmp_path) as client,
            KubeletSimulator(
                client, SIM_NODE, tmp_path / "sim", SystemClock(), jitter=False
            ) as sim,
        ):
            quickstart.apply(spec("real", None), spec("simulated", SIM_NODE))
            await sim.wait_ready(NAMESPACE, "simulated", timeout=120)
            real = wait_for("the real pod Ready", lambda: real_pod(quickstart), 180)
            views = compare(quickstart, real, sim.volume_dir(NAMESPACE, "simulated", "x").parent)
    finally:
        force = ("--grace-period=0", "--force", "--ignore-not-found")
        quickstart("-n", NAMESPACE, "delete", "pod", "simulated", *force)
        quickstart("delete", "namespace", NAMESPACE, "--timeout=180s")
        quickstart("delete", "node", SIM_NODE, "--ignore-not-found")
    report("real kubelet vs simulator", views)


def real_pod(kubectl: Kubectl) -> dict[str, Any] | None:
    got = kubectl.json("-n", NAMESPACE, "get", "pod", "real")
    return got if ready(got) else None


def compare(kubectl: Kubectl, real: dict[str, Any], sim_dir: Path) -> str:
    requests = pcrs(kubectl, "-n", NAMESPACE)
    side = {who: sorted((pcr_view(p) for p in requests if p["spec"]["podName"] == who),
                        key=lambda v: v["keyType"]) for who in ("real", "simulated")}  # fmt: skip
    out = [f"PCRs: {len(side['real'])} real, {len(side['simulated'])} simulated"]
    out += ["PCR views (real kubelet):", yaml.safe_dump(side["real"]).rstrip()]
    out += diff("PCR views", side["real"], side["simulated"])
    for volume in ("creds", "trust"):
        a, b = tree(volume_dir(real, volume)), tree(sim_dir / volume)
        out += [f"volume {volume} (real kubelet):", *a, *diff(f"volume {volume}", a, b)]
    text = "\n".join(out)
    assert "DIFFERS" not in text, text
    return text


def diff(what: str, a: Any, b: Any) -> list[str]:
    if a == b:
        return [f"{what}: identical"]
    ya, yb = yaml.safe_dump(a).splitlines(), yaml.safe_dump(b).splitlines()
    return [f"{what}: DIFFERS", *difflib.unified_diff(ya, yb, "real", "simulated", lineterm="")]
