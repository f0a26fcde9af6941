"""The control plane of a local cluster: etcd, kube-apiserver, kube-controller-manager, scheduler.

Concept: etcd on 127.0.0.1:2379 (no fsync); kube-apiserver bound to NODE_IP:6443 with the
serving certificate of `credentials`, Node,RBAC authorization, NodeRestriction and
`--kubelet-preferred-address-types=InternalIP` (the lease endpoint reconciler publishes NODE_IP
as the `kubernetes` Service's endpoint); KCM and scheduler on loopback without leader election.
Invariant: each `start_*` returns only once its component answers (etcd /health, apiserver
/readyz) or raises with the tail of the component's log.
"""

from __future__ import annotations

import urllib.request

from meshtool.testing.node.paths import API_PORT, ETCD_PORT, NODE_IP, SERVICE_CIDR, log
from meshtool.testing.node.procs import Processes


def start_etcd(c: Processes) -> None:
    url = f"http://127.0.0.1:{ETCD_PORT}"
    peer = f"http://127.0.0.1:{ETCD_PORT + 1}"
    c.spawn(
        "etcd",
        [
            c.p.bin("etcd"), f"--data-dir={c.p.root / 'etcd'}",
            f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}", "--unsafe-no-fsync=true", "--log-level=warn",
        ],
    )  # fmt: skip

    def healthy() -> bool:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return b'"health":"true"' in response.read()

    c.wait("etcd", "etcd healthy", healthy)


def start_apiserver(c: Processes) -> None:
    certs = c.p.pki
    c.spawn(
        "kube-apiserver",
        [
            c.p.bin("kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
            f"--bind-address={NODE_IP}", f"--advertise-address={NODE_IP}",
            f"--secure-port={API_PORT}", f"--cert-dir={certs}",
            f"--tls-cert-file={certs / 'serving.crt'}",
            f"--tls-private-key-file={certs / 'serving.key'}",
            f"--client-ca-file={certs / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={certs / 'sa.pub'}",
            f"--service-account-signing-key-file={certs / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-client-certificate={certs / 'kubelet-client.crt'}",
            f"--kubelet-client-key={certs / 'kubelet-client.key'}",
            "--profiling=false",
        ],
    )  # fmt: skip
    c.wait(
        "kube-apiserver",
        "kube-apiserver ready",
        lambda: c.kubectl("get", "--raw=/readyz", check=False).strip() == "ok",
    )
    log(f"kube-apiserver ready at https://{NODE_IP}:{API_PORT}")


def start_controllers(c: Processes) -> None:
    certs = c.p.pki
    kcm = c.p.root / "kube-controller-manager.kubeconfig"
    c.spawn(
        "kube-controller-manager",
        [
            c.p.bin("kube-controller-manager"),
            f"--kubeconfig={kcm}", f"--authentication-kubeconfig={kcm}",
            f"--authorization-kubeconfig={kcm}",
            "--bind-address=127.0.0.1", "--leader-elect=false",
            f"--service-account-private-key-file={certs / 'sa.key'}",
            f"--root-ca-file={certs / 'ca.crt'}",
            f"--cluster-signing-cert-file={certs / 'ca.crt'}",
            f"--cluster-signing-key-file={certs / 'ca.key'}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--profiling=false",
        ],
    )  # fmt: skip
    sched = c.p.root / "kube-scheduler.kubeconfig"
    c.spawn(
        "kube-scheduler",
        [
            c.p.bin("kube-scheduler"),
            f"--kubeconfig={sched}", f"--authentication-kubeconfig={sched}",
            f"--authorization-kubeconfig={sched}",
            "--bind-address=127.0.0.1", "--leader-elect=false", "--profiling=false",
        ],
    )  # fmt: skip
