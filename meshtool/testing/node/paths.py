"""Where a local cluster lives, what it is made of, and the small shell helpers every part uses.

Concept: one cluster per machine, rooted at DIR ($MESHTOOL_CLUSTER_DIR, default
/var/tmp/meshtool-cluster), run from the binaries cached under ~/.cache/meshtool
(`hack/k8s-binaries.sh`, `hack/node-binaries.sh`) and the images `hack/node-images.sh` built.
Invariants: every path the cluster writes is under DIR except `HOST_PATHS` (machine-wide paths
the kubelet, containerd and runc use whatever their configured roots), which `down()` removes
only if `up()` created them; `SYSCTLS` are the sysctls that may change and are restored;
`COMPONENTS` is the stop order. A process is "ours" only if /proc/PID/exe is a cached binary.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

NODE = "meshtool-node"
NODE_IP = "10.77.0.1"
DUMMY = "mt-node0"
BRIDGE = "cni0"
POD_CIDR = "10.88.0.0/24"
SERVICE_CIDR = "10.0.0.0/24"
KUBERNETES_SVC_IP = "10.0.0.1"
DNS_IP = "10.0.0.10"
API_PORT = 6443
ETCD_PORT = 2379
K8S_VERSION = "v1.37.2"
COREDNS_IMAGE = "localhost/coredns:v1.15.0"
PAUSE_IMAGE = "localhost/pause:1"
IMAGES = ("meshtool", "pause", "coredns")
START_TIMEOUT = 180.0

# Machine-wide paths the kubelet / containerd / runc use whatever their configured roots.
HOST_PATHS = (
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/run/containerd",
    "/var/lib/cni",  # libcni's result cache (containerd has no setting for it)
    "/run/nri",  # in case containerd's NRI is not disabled
)
# Sysctls the kubelet, kube-proxy or the bridge plugin may change; restored by down().
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
# Stop order: first entry first.
COMPONENTS = (
    "kubelet",
    "kube-proxy",
    "kube-scheduler",
    "kube-controller-manager",
    "containerd",
    "kube-apiserver",
    "etcd",
)


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "meshtool"


def cluster_dir() -> Path:
    return Path(os.environ.get("MESHTOOL_CLUSTER_DIR") or "/var/tmp/meshtool-cluster")


class Paths:
    def __init__(self, root: Path) -> None:
        self.root = root
        cache = cache_dir()
        self.k8s = cache / "k8s" / K8S_VERSION
        self.node = cache / "node"
        self.images = cache / "node" / "images"
        self.pki = root / "pki"
        self.logs = root / "logs"
        self.pids = root / "pids"
        self.state = root / "state.json"
        self.admin = root / "admin.kubeconfig"
        self.containerd = root / "containerd"
        self.sock = root / "containerd" / "containerd.sock"
        self.kubelet = root / "kubelet"
        self.cni_conf = root / "cni" / "net.d"

    def bin(self, name: str) -> Path:
        where = {
            "etcd": self.k8s,
            "kube-apiserver": self.k8s,
            "kubectl": self.k8s,
            "containerd": self.node / "containerd",
            "ctr": self.node / "containerd",
            "containerd-shim-runc-v2": self.node / "containerd",
            "runc": self.node / "runc",
            "coredns": self.node / "coredns",
        }
        return where.get(name, self.node / "kubernetes") / name


def log(message: str) -> None:
    print(f"cluster: {message}", flush=True)


def run(args: Sequence[str | Path], *, check: bool = True, quiet: bool = False) -> str:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, timeout=120
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed: {result.stderr.strip()}")
    if not quiet and result.returncode != 0:
        log(f"(ignored) {' '.join(map(str, args))}: {result.stderr.strip()[:200]}")
    return result.stdout


def exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return False
