"""Every identity of a local cluster: one throwaway CA and the certificates and kubeconfigs from it.

Concept: `meshtool.testing.pki` makes the cluster CA, the apiserver's serving certificate (NODE_IP,
the `kubernetes` Service's ClusterIP and DNS names, loopback), the service-account signing key,
the apiserver's kubelet-client certificate, and a client-certificate kubeconfig per user: admin
(system:masters, DIR/admin.kubeconfig), KCM, scheduler, kube-proxy and the kubelet
(system:node:NODE). Invariant: key files and kubeconfigs are written mode 0600 under DIR only.
"""

from __future__ import annotations

from pathlib import Path

from meshtool.testing import launch, pki
from meshtool.testing.node.paths import API_PORT, KUBERNETES_SVC_IP, NODE, NODE_IP
from meshtool.testing.node.procs import Processes


def write_pki(c: Processes) -> None:
    c.p.pki.mkdir(parents=True, exist_ok=True)
    ca = pki.new_ca("meshtool-cluster-ca")
    hosts = [
        NODE_IP, KUBERNETES_SVC_IP, "127.0.0.1", "localhost", "kubernetes",
        "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
    ]  # fmt: skip
    serving, sa = pki.serving_cert(ca, hosts), pki.new_key()
    files = {
        "ca.crt": ca.cert_pem,
        "ca.key": ca.key_pem,
        "serving.crt": serving.cert_pem,
        "serving.key": serving.key_pem,
        "sa.key": pki.key_pem(sa),
        "sa.pub": pki.public_pem(sa),
    }
    kubelet_client = pki.client_cert(ca, "kube-apiserver-kubelet-client", ["system:masters"])
    files["kubelet-client.crt"] = kubelet_client.cert_pem
    files["kubelet-client.key"] = kubelet_client.key_pem
    for name, data in files.items():
        (c.p.pki / name).write_bytes(data)
        (c.p.pki / name).chmod(0o600)
    server = f"https://{NODE_IP}:{API_PORT}"
    users = {
        "admin": ("admin", ["system:masters"]),
        "kube-controller-manager": ("system:kube-controller-manager", []),
        "kube-scheduler": ("system:kube-scheduler", []),
        "kube-proxy": ("system:kube-proxy", []),
        "kubelet": (f"system:node:{NODE}", ["system:nodes"]),
    }
    for file, (user, groups) in users.items():
        path = c.p.admin if file == "admin" else c.p.root / f"{file}.kubeconfig"
        write_kubeconfig(path, server, ca, pki.client_cert(ca, user, groups))


def write_kubeconfig(path: Path, server: str, ca: pki.KeyPair, user: pki.KeyPair) -> None:
    """The node cluster's kubeconfigs: the harness's writer, under the name `meshtool-node`."""
    launch.write_kubeconfig(path, server, ca, user, name="meshtool-node")
