"""All six key types the real kubelet generates, end to end, verified against the projected CTB.

One pod per key type (the pause image: nothing runs in it) with a spiffe podCertificate volume
and the spiffe signer's clusterTrustBundle; the files are read where the kubelet wrote them.
"""

from __future__ import annotations

from typing import Any

import pytest

from meshtool.pki import pem

from .conftest import RefreshWatch
from .nodekit import KEY_TYPES, Kubectl, key_type, ready, report, verify, volume_dir, wait_for

pytestmark = [pytest.mark.node, pytest.mark.timeout(600)]

NAMESPACE = "key-types"
SIGNER = "row-major.net/spiffe"
TRUST = {
    "signerName": SIGNER,
    "labelSelector": {
        "matchLabels": {
            "spiffe.row-major.net/canarying": "live",
            "spiffe.row-major.net/trust-domain": "cluster.local",
        }
    },
    "path": "bundle.pem",
}


def pod(name: str, sources: list[dict[str, Any]], namespace: str = NAMESPACE) -> dict[str, Any]:
    creds = {"name": "creds", "projected": {"sources": sources}}
    trust = {"name": "trust", "projected": {"sources": [{"clusterTrustBundle": TRUST}]}}
    mounts = [{"name": v, "mountPath": f"/run/{v}", "readOnly": True} for v in ("creds", "trust")]
    container = {
        "name": "pause",
        "image": "localhost/pause:1",
        "imagePullPolicy": "Never",
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [container], "volumes": [creds, trust]},
    }


def podcert(key: str, path: str = "credentialbundle.pem") -> dict[str, Any]:
    source = {"signerName": SIGNER, "keyType": key, "credentialBundlePath": path}
    return {"podCertificate": source}


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def test_every_key_type_end_to_end(quickstart: Kubectl, refresh_watch: RefreshWatch) -> None:
    names = {key: f"key-{key.lower()}" for key in KEY_TYPES}
    quickstart.apply(namespace(NAMESPACE))
    quickstart.apply(*(pod(names[k], [podcert(k)]) for k in KEY_TYPES))
    pods = wait_for("every key-type pod Running", lambda: all_ready(quickstart), timeout=240)
    lines = []
    for key in KEY_TYPES:
        got = pods[names[key]]
        cred = pem.credential((volume_dir(got, "creds") / "credentialbundle.pem").read_bytes())
        anchors = (volume_dir(got, "trust") / "bundle.pem").read_bytes()
        verify(cred.chain, anchors)
        assert key_type(cred.chain[0].public_key()) == key == key_type(cred.key.public_key())
        lines.append(f"{key:10} leaf serial {cred.chain[0].serial_number:x} verified")
    report("key types", "\n".join(lines))


def all_ready(kubectl: Kubectl) -> dict[str, Any] | None:
    pods = kubectl.json("-n", NAMESPACE, "get", "pods")["items"]
    by_name = {p["metadata"]["name"]: p for p in pods}
    return by_name if len(pods) == len(KEY_TYPES) and all(ready(p) for p in pods) else None
