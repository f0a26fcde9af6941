"""The node agents: the kubelet and kube-proxy, and restarting the kubelet of a running cluster.

Concept: one kubelet (`NODE`, NODE_IP:10250) with the settings that work on this machine
(cgroupfs, `failCgroupV1: false`, image GC thresholds 100/99, clusterDNS DNS_IP, a resolv.conf
without upstream servers) and kube-proxy in iptables mode (`masqueradeAll`, so Service traffic
between pods on one bridge works without br_netfilter; conntrack sysctls untouched).
Invariants: `up` continues only once the Node is Ready; `restart_kubelet` stops only the
kubelet pid recorded in the state (checked by its executable) and starts it with the same argv,
so the pods keep running while the kubelet loses what it held in memory (e.g. the private keys
of pending pod certificates).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import yaml

from meshtool.testing.node.paths import DNS_IP, NODE, NODE_IP, POD_CIDR, alive, log
from meshtool.testing.node.procs import Processes
from meshtool.testing.node.teardown import binaries, stop


def start_kubelet(c: Processes) -> None:
    k = c.p.kubelet
    for sub in ("root", "pki", "manifests", "pod-logs"):
        (k / sub).mkdir(parents=True, exist_ok=True)
    (k / "resolv.conf").write_text("# meshtool cluster: no upstream DNS\n")
    sock = f"unix://{c.p.sock}"
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": "/",
        "cgroupsPerQOS": True,
        "failSwapOn": False,
        "containerRuntimeEndpoint": sock,
        "imageServiceEndpoint": sock,
        "address": NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "podLogsDir": str(k / "pod-logs"),
        "staticPodPath": str(k / "manifests"),
        "clusterDomain": "cluster.local",
        "clusterDNS": [DNS_IP],
        "resolvConf": str(k / "resolv.conf"),
        "makeIPTablesUtilChains": False,
        "rotateCertificates": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
        },
        "syncFrequency": "10s",
        "nodeStatusReportFrequency": "10s",
        "maxPods": 150,  # the burst test runs 100 pods besides the examples
    }
    (k / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    c.spawn(
        "kubelet",
        [
            c.p.bin("kubelet"), f"--config={k / 'config.yaml'}",
            f"--kubeconfig={c.p.root / 'kubelet.kubeconfig'}",
            f"--root-dir={k / 'root'}", f"--cert-dir={k / 'pki'}",
            f"--hostname-override={NODE}", f"--node-ip={NODE_IP}",
        ],
    )  # fmt: skip


def start_kube_proxy(c: Processes) -> None:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(c.p.root / "kube-proxy.kubeconfig")},
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": NODE,
        "bindAddress": NODE_IP,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "nodePortAddresses": [f"{NODE_IP}/32"],
        "iptables": {"masqueradeAll": True, "localhostNodePorts": False},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }
    path = c.p.root / "kube-proxy.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    c.spawn("kube-proxy", [c.p.bin("kube-proxy"), f"--config={path}"])
    c.wait(
        "kubelet",
        f"node {NODE} Ready",
        lambda: "True"
        in c.kubectl(
            "get", "node", NODE, "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False,
        ),
    )  # fmt: skip
    log(f"node {NODE} Ready")


def restart_kubelet(root: Path | None = None, timeout: float = 120.0) -> None:
    """Stop the cluster's kubelet (SIGTERM) and start it again with the same argv; wait until
    the Node is Ready again on a heartbeat the new kubelet posted."""
    procs = Processes.load(root)
    old = procs.state["pids"]["kubelet"]
    stop(procs.state["pids"], "kubelet", binaries(procs.p))
    if alive(old):
        raise RuntimeError(f"kubelet {old} did not stop")
    started = time.time()
    procs.respawn("kubelet")
    procs.wait(
        "kubelet", f"node {NODE} Ready after restart", lambda: _ready_since(procs, started), timeout
    )
    log(f"kubelet restarted: pid {old} -> {procs.state['pids']['kubelet']}")


def _ready_since(procs: Processes, started: float) -> bool:
    out = procs.kubectl(
        "get", "node", NODE, "-o",
        "jsonpath={.status.conditions[?(@.type=='Ready')].lastHeartbeatTime} "
        "{.status.conditions[?(@.type=='Ready')].status}", check=False,
    ).split()  # fmt: skip
    if len(out) != 2 or out[1] != "True":
        return False
    beat = dt.datetime.fromisoformat(out[0].replace("Z", "+00:00")).timestamp()
    return beat >= started
