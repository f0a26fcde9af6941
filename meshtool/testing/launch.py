"""How the test control plane's processes are launched and probed: command lines, files, health.

`etcd_args` and `apiserver_args` are the exact command lines (the apiserver with Node,RBAC
authorization, NodeRestriction admission and, by `VERSION_FLAGS`, the PodCertificateRequest /
ClusterTrustBundle APIs of its release); `write_pki` writes a fresh CA, the serving certificate
and the ServiceAccount signing key pair into a folder; `write_kubeconfig` writes a client
certificate kubeconfig; `etcd_healthy`, `apiserver_ready` and `etcd_compact` talk to the running
processes. Nothing here starts, waits for or stops a process: that is `controlplane.ControlPlane`.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.testing import pki

_GATES = (
    "--feature-gates=PodCertificateRequest=true,ClusterTrustBundle=true,"
    "ClusterTrustBundleProjection=true"
)
VERSION_FLAGS: dict[str, list[str]] = {
    # PCRs are v1alpha1-only in 1.34; ClusterTrustBundles are v1beta1 there.
    "1.34": [
        _GATES,
        "--runtime-config=certificates.k8s.io/v1alpha1=true,certificates.k8s.io/v1beta1=true",
    ],
    "1.35": [_GATES, "--runtime-config=certificates.k8s.io/v1beta1=true"],
    "1.36": [_GATES, "--runtime-config=certificates.k8s.io/v1beta1=true"],
    # v1 is GA and on by default; v1beta1 stays on so skewed (1.35/1.36) kubelets can be simulated.
    "1.37": ["--runtime-config=certificates.k8s.io/v1beta1=true"],
}


def etcd_args(bin_dir: Path, data_dir: Path, url: str, peer: str) -> list[str]:
    return [
        str(bin_dir / "etcd"),
        f"--data-dir={data_dir}",
        f"--listen-client-urls={url}",
        f"--advertise-client-urls={url}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_args(
    bin_dir: Path,
    *,
    etcd_url: str,
    port: int,
    certs: Path,
    issuer: str,
    version: str,
    extra: Sequence[str] = (),
) -> list[str]:
    return [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={certs}",
        f"--tls-cert-file={certs / 'serving.crt'}",
        f"--tls-private-key-file={certs / 'serving.key'}",
        f"--client-ca-file={certs / 'ca.crt'}",
        f"--service-account-issuer={issuer}",
        f"--service-account-key-file={certs / 'sa.pub'}",
        f"--service-account-signing-key-file={certs / 'sa.key'}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--allow-privileged=true",
        # 1.37 refuses a loopback advertise address with the default (lease) reconciler.
        "--endpoint-reconciler-type=none",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        *VERSION_FLAGS.get(version, []),
        *extra,
    ]


def write_pki(certs: Path) -> pki.KeyPair:
    """A fresh CA, its serving certificate and the ServiceAccount key pair; returns the CA."""
    certs.mkdir(exist_ok=True)
    ca = pki.new_ca()
    serving, sa_key = pki.serving_cert(ca), pki.new_key()
    files = {
        "ca.crt": ca.cert_pem,
        "serving.crt": serving.cert_pem,
        "serving.key": serving.key_pem,
        "sa.key": pki.key_pem(sa_key),
        "sa.pub": pki.public_pem(sa_key),
    }
    for name, data in files.items():
        (certs / name).write_bytes(data)
    return ca


async def apiserver_ready(kube: KubeClient) -> bool:
    if not await kube.healthy():
        return False
    try:
        await kube.get(resources.NAMESPACES, "default")
    except errors.KubeError:
        return False
    return True


def etcd_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return b'"health":"true"' in response.read()
    except OSError:
        return False


def _etcd_post(url: str, body: dict[str, object]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.load(response)
        return result


def etcd_compact(url: str) -> int:
    """Through etcd's JSON gateway: read the current revision, then compact to it."""
    key = base64.b64encode(b"/").decode()
    revision = int(_etcd_post(f"{url}/v3/kv/range", {"key": key})["header"]["revision"])
    _etcd_post(f"{url}/v3/kv/compaction", {"revision": revision, "physical": True})
    return revision


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(
    path: Path,
    server: str,
    ca: pki.KeyPair,
    user: pki.KeyPair | str,
    *,
    name: str = "meshtool",
) -> None:
    """A kubeconfig whose one cluster, user and context are all called `name` (mode 0600).

    The user is a client certificate, or (a str) a bearer token such as a ServiceAccount's.
    """
    if isinstance(user, str):
        user_data = {"token": user}
    else:
        user_data = {
            "client-certificate-data": _b64(user.cert_pem),
            "client-key-data": _b64(user.key_pem),
        }
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca.cert_pem)},
            }
        ],
        "users": [{"name": name, "user": user_data}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
