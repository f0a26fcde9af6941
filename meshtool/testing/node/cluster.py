"""Start and remove a real one-node cluster on this machine (`make cluster` / `make cluster-down`).

`Cluster.up()` runs, as detached processes that outlive it, in this order: the node's link
(`hostnet`), the throwaway PKI and kubeconfigs (`credentials`), etcd, kube-apiserver, KCM and
the scheduler (`controlplane`), containerd with runc, CNI and the imported images
(`containerd`), the kubelet and kube-proxy (`agents`), and CoreDNS (`coredns`). `down()`
(`teardown`) removes every process, mount, cgroup, link, iptables rule and host path `up()`
created; `host_snapshot()` is what it must restore. State (pids, argv, sysctls it changed, host
paths it created) is kept in `DIR/state.json` (`procs`) so `down()` can undo exactly that, even
from another process; `down()` is also safe to run when nothing is up. DIR is
$MESHTOOL_CLUSTER_DIR, default /var/tmp/meshtool-cluster (`paths`). Needs root, Linux, and
cgroup v1 or v2 with cgroupfs. The admin kubeconfig is `DIR/admin.kubeconfig`.

Invariant: `up()` refuses to start while a state file exists (one cluster per machine: the
kubelet's ports, `cni0`, the `kubepods` cgroups and some host paths are machine-wide).
This module re-exports the names callers use (`NODE`, `K8S_VERSION`, `Paths`, `cluster_dir`,
`down`, `host_snapshot`, `restart_kubelet`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from meshtool.testing.node import agents, containerd, controlplane, coredns, credentials, hostnet
from meshtool.testing.node.agents import restart_kubelet
from meshtool.testing.node.hostnet import nft_tables, sysctl
from meshtool.testing.node.paths import (
    HOST_PATHS,
    IMAGES,
    K8S_VERSION,
    NODE,
    NODE_IP,
    SYSCTLS,
    Paths,
    alive,
    cluster_dir,
    log,
)
from meshtool.testing.node.procs import Processes
from meshtool.testing.node.teardown import down, host_snapshot

__all__ = [
    "K8S_VERSION", "NODE", "NODE_IP", "Cluster", "Paths", "cluster_dir", "down", "host_snapshot",
    "main", "restart_kubelet", "status",
]  # fmt: skip


class Cluster(Processes):
    def up(self) -> None:
        started = time.monotonic()
        if self.p.state.exists():
            raise RuntimeError(
                f"{self.p.state} exists: a cluster is up (or was not removed); "
                "run `make cluster-down`"
            )
        self._check_inputs()
        for path in HOST_PATHS:
            if not os.path.lexists(path):
                self.state["created"].append(path)
        self.p.root.mkdir(parents=True, exist_ok=True)
        self.state["sysctls"] = {k: sysctl(k) for k in SYSCTLS if sysctl(k) is not None}
        self.state["nft_tables"] = nft_tables()
        self.save()
        hostnet.add_links(self)
        credentials.write_pki(self)
        controlplane.start_etcd(self)
        controlplane.start_apiserver(self)
        controlplane.start_controllers(self)
        containerd.start_containerd(self)
        agents.start_kubelet(self)
        agents.start_kube_proxy(self)
        coredns.start_coredns(self)
        log(f"up in {time.monotonic() - started:.0f}s")

    def _check_inputs(self) -> None:
        need = [
            "etcd", "kube-apiserver", "kubectl", "kubelet", "kube-controller-manager",
            "kube-scheduler", "kube-proxy", "containerd", "ctr", "containerd-shim-runc-v2", "runc",
        ]  # fmt: skip
        missing = [n for n in need if not self.p.bin(n).exists()]
        missing += [f"{i}.tar" for i in IMAGES if not (self.p.images / f"{i}.tar").exists()]
        if missing:
            raise RuntimeError(
                f"missing {', '.join(missing)}: run hack/k8s-binaries.sh 1.37, "
                "hack/node-binaries.sh and hack/node-images.sh (make cluster does)"
            )
        if os.geteuid() != 0:
            raise RuntimeError("a real node needs root")


def status(root: Path | None = None) -> int:
    p = Paths(root or cluster_dir())
    if not p.state.exists():
        print("cluster: not up")
        return 1
    state = json.loads(p.state.read_text())
    for name, pid in state["pids"].items():
        print(f"{name:24} {pid:>8} {'running' if alive(pid) else 'EXITED'}")
    return 0


def usage(p: Paths) -> str:
    return (
        f"cluster: up. kubeconfig: {p.admin}\n"
        f"  export KUBECONFIG={p.admin} PATH={p.k8s}:$PATH\n"
        "  kubectl get nodes -o wide\n"
        f"  logs: {p.logs}/   remove everything: make cluster-down"
    )


def main(argv: Sequence[str]) -> int:
    command = argv[0] if argv else "up"
    if command == "up":
        cluster = Cluster()
        try:
            cluster.up()
        except BaseException as exc:
            log(f"start failed: {exc}")
            log(f"logs kept in {cluster.p.logs} until `make cluster-down`")
            return 1
        print(usage(cluster.p))
        return 0
    if command == "down":
        down()
        return 0
    if command == "status":
        return status()
    if command == "restart-kubelet":
        restart_kubelet()
        return 0
    print(f"usage: {sys.argv[0]} up|down|status|restart-kubelet", file=sys.stderr)
    return 2
