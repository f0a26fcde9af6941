"""Start and remove a real one-node cluster on this machine (`make cluster` / `make cluster-down`).

`up()` runs, as detached processes that outlive it:
- etcd on 127.0.0.1:2379;
- kube-apiserver bound to NODE_IP:6443 on a link this module creates (`mt-node0`, one end of
  a veth pair: this kernel has no dummy driver), with NODE_IP, the `kubernetes` Service's
  ClusterIP and its DNS names in its serving certificate, Node,RBAC authorization,
  NodeRestriction and `--kubelet-preferred-address-types=InternalIP`; the lease endpoint
  reconciler publishes NODE_IP as the `kubernetes` Service's endpoint;
- kube-controller-manager and kube-scheduler (loopback only, no leader election);
- containerd with runc and the CNI bridge `cni0` (host-local 10.88.0.0/24, no masquerading to
  the outside), into which the images from `hack/node-images.sh` are imported;
- one kubelet (`NODE`, the settings that work on this machine: cgroupfs, failCgroupV1: false,
  image GC thresholds 100/99, containerd's restrict_oom_score_adj);
- kube-proxy in iptables mode (masquerade-all, so Service traffic between pods on one bridge
  works without relying on br_netfilter), serving the `kubernetes` Service to pods;
- CoreDNS as a Deployment plus the `kube-dns` Service at 10.0.0.10 (cluster.local only: it
  forwards nothing, so no query leaves the machine).
Every client identity is a client certificate from one throwaway CA (`meshtool.testing.pki`);
the admin kubeconfig is `DIR/admin.kubeconfig`. State (pids, sysctls it changed, host paths it
created) is kept in `DIR/state.json` so `down()` can undo exactly that, even from another
process; `down()` is also safe to run when nothing is up. DIR is $MESHTOOL_CLUSTER_DIR, default
/var/tmp/meshtool-cluster. Needs root, Linux, and cgroup v1 or v2 with cgroupfs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from meshtool.testing import pki

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


# ---------------------------------------------------------------------------------------- up


class Cluster:
    def __init__(self, root: Path | None = None) -> None:
        self.p = Paths(root or cluster_dir())
        self.state: dict[str, Any] = {"pids": {}, "created": [], "sysctls": {}, "links": []}

    # -- helpers
    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        cmd = [str(self.p.bin("kubectl")), f"--kubeconfig={self.p.admin}", *args]
        result = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, check=False, timeout=120
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def save(self) -> None:
        self.p.state.write_text(json.dumps(self.state, indent=2))

    def spawn(
        self, name: str, args: Sequence[str | Path], env: dict[str, str] | None = None
    ) -> None:
        self.p.logs.mkdir(parents=True, exist_ok=True)
        with open(self.p.logs / f"{name}.log", "ab") as out:
            child = subprocess.Popen(
                [str(a) for a in args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
                cwd=self.p.root,
            )
        self.state["pids"][name] = child.pid
        self.save()

    def wait(self, name: str, what: str, ready: Any, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        pid = self.state["pids"].get(name)
        while True:
            try:
                if ready():
                    return
            except Exception:
                pass
            if pid is not None and not _alive(pid):
                raise RuntimeError(f"{name} exited; last lines of its log:\n{self.tail(name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what}: not after {timeout:.0f}s; {name} log:\n{self.tail(name)}"
                )
            time.sleep(0.5)

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.p.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- the sequence
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
        self.state["sysctls"] = {k: _sysctl(k) for k in SYSCTLS if _sysctl(k) is not None}
        self.state["nft_tables"] = _nft_tables()
        self.save()
        self._network()
        self._pki()
        self._etcd()
        self._apiserver()
        self._controllers()
        self._containerd()
        self._kubelet()
        self._kube_proxy()
        self._coredns()
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

    def _network(self) -> None:
        # A veth pair, not a dummy link: this kernel has no dummy driver, and veth is what the
        # CNI bridge needs anyway. Deleting one end deletes both.
        run(["ip", "link", "add", DUMMY, "type", "veth", "peer", "name", f"{DUMMY}p"])
        self.state["links"].append(DUMMY)
        self.state["links"].append(BRIDGE)  # the bridge plugin creates it; down() removes it
        self.save()
        run(["ip", "addr", "add", f"{NODE_IP}/32", "dev", DUMMY])
        run(["ip", "link", "set", f"{DUMMY}p", "up"])
        run(["ip", "link", "set", DUMMY, "up"])

    def _pki(self) -> None:
        self.p.pki.mkdir(parents=True, exist_ok=True)
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
            (self.p.pki / name).write_bytes(data)
            (self.p.pki / name).chmod(0o600)
        server = f"https://{NODE_IP}:{API_PORT}"
        users = {
            "admin": ("admin", ["system:masters"]),
            "kube-controller-manager": ("system:kube-controller-manager", []),
            "kube-scheduler": ("system:kube-scheduler", []),
            "kube-proxy": ("system:kube-proxy", []),
            "kubelet": (f"system:node:{NODE}", ["system:nodes"]),
        }
        for file, (user, groups) in users.items():
            path = self.p.admin if file == "admin" else self.p.root / f"{file}.kubeconfig"
            write_kubeconfig(path, server, ca, pki.client_cert(ca, user, groups))

    def _etcd(self) -> None:
        url = f"http://127.0.0.1:{ETCD_PORT}"
        peer = f"http://127.0.0.1:{ETCD_PORT + 1}"
        self.spawn(
            "etcd",
            [
                self.p.bin("etcd"), f"--data-dir={self.p.root / 'etcd'}",
                f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
                f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}", "--unsafe-no-fsync=true", "--log-level=warn",
            ],
        )  # fmt: skip

        def healthy() -> bool:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                return b'"health":"true"' in response.read()

        self.wait("etcd", "etcd healthy", healthy)

    def _apiserver(self) -> None:
        c = self.p.pki
        self.spawn(
            "kube-apiserver",
            [
                self.p.bin("kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
                f"--bind-address={NODE_IP}", f"--advertise-address={NODE_IP}",
                f"--secure-port={API_PORT}", f"--cert-dir={c}",
                f"--tls-cert-file={c / 'serving.crt'}",
                f"--tls-private-key-file={c / 'serving.key'}",
                f"--client-ca-file={c / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={c / 'sa.pub'}",
                f"--service-account-signing-key-file={c / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-client-certificate={c / 'kubelet-client.crt'}",
                f"--kubelet-client-key={c / 'kubelet-client.key'}",
                "--profiling=false",
            ],
        )  # fmt: skip
        self.wait(
            "kube-apiserver",
            "kube-apiserver ready",
            lambda: self.kubectl("get", "--raw=/readyz", check=False).strip() == "ok",
        )
        log(f"kube-apiserver ready at https://{NODE_IP}:{API_PORT}")

    def _controllers(self) -> None:
        c = self.p.pki
        kcm = self.p.root / "kube-controller-manager.kubeconfig"
        self.spawn(
            "kube-controller-manager",
            [
                self.p.bin("kube-controller-manager"),
                f"--kubeconfig={kcm}", f"--authentication-kubeconfig={kcm}",
                f"--authorization-kubeconfig={kcm}",
                "--bind-address=127.0.0.1", "--leader-elect=false",
                f"--service-account-private-key-file={c / 'sa.key'}",
                f"--root-ca-file={c / 'ca.crt'}",
                f"--cluster-signing-cert-file={c / 'ca.crt'}",
                f"--cluster-signing-key-file={c / 'ca.key'}",
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--profiling=false",
            ],
        )  # fmt: skip
        sched = self.p.root / "kube-scheduler.kubeconfig"
        self.spawn(
            "kube-scheduler",
            [
                self.p.bin("kube-scheduler"),
                f"--kubeconfig={sched}", f"--authentication-kubeconfig={sched}",
                f"--authorization-kubeconfig={sched}",
                "--bind-address=127.0.0.1", "--leader-elect=false", "--profiling=false",
            ],
        )  # fmt: skip

    def _containerd(self) -> None:
        d = self.p.containerd
        d.mkdir(parents=True, exist_ok=True)
        self.p.cni_conf.mkdir(parents=True, exist_ok=True)
        (self.p.cni_conf / "10-meshtool.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "meshtool",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": BRIDGE,
                            "isGateway": True,
                            "ipMasq": False,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": POD_CIDR}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": str(self.p.root / "cni" / "ipam"),
                            },
                        }
                    ],
                },
                indent=2,
            )
        )
        config = f"""version = 3
root = '{d / "root"}'
state = '{d / "state"}'
[grpc]
  address = '{self.p.sock}'
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{PAUSE_IMAGE}'
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '{self.p.bin("runc")}'
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['{self.p.node / "cni"}']
    conf_dir = '{self.p.cni_conf}'
[plugins.'io.containerd.nri.v1.nri']
  disable = true
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
"""
        (d / "config.toml").write_text(config)
        path = f"{self.p.node / 'containerd'}:{self.p.node / 'runc'}:{os.environ.get('PATH', '')}"
        self.spawn(
            "containerd",
            [self.p.bin("containerd"), f"--config={d / 'config.toml'}"],
            env={"PATH": path},
        )
        self.wait("containerd", "containerd serving", lambda: self._ctr("version") is not None)
        for image in IMAGES:
            start = time.monotonic()
            self._ctr("images", "import", str(self.p.images / f"{image}.tar"))
            log(f"imported {image} in {time.monotonic() - start:.1f}s")

    def _ctr(self, *args: str) -> str:
        return run([self.p.bin("ctr"), f"--address={self.p.sock}", "-n", "k8s.io", *args])

    def _kubelet(self) -> None:
        k = self.p.kubelet
        for sub in ("root", "pki", "manifests", "pod-logs"):
            (k / sub).mkdir(parents=True, exist_ok=True)
        (k / "resolv.conf").write_text("# meshtool cluster: no upstream DNS\n")
        sock = f"unix://{self.p.sock}"
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
            "maxPods": 50,
        }
        (k / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.spawn(
            "kubelet",
            [
                self.p.bin("kubelet"), f"--config={k / 'config.yaml'}",
                f"--kubeconfig={self.p.root / 'kubelet.kubeconfig'}",
                f"--root-dir={k / 'root'}", f"--cert-dir={k / 'pki'}",
                f"--hostname-override={NODE}", f"--node-ip={NODE_IP}",
            ],
        )  # fmt: skip

    def _kube_proxy(self) -> None:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.p.root / "kube-proxy.kubeconfig")},
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
        path = self.p.root / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.spawn("kube-proxy", [self.p.bin("kube-proxy"), f"--config={path}"])
        self.wait(
            "kubelet",
            f"node {NODE} Ready",
            lambda: "True"
            in self.kubectl(
                "get", "node", NODE, "-o",
                "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False,
            ),
        )  # fmt: skip
        log(f"node {NODE} Ready")

    def _coredns(self) -> None:
        self.kubectl("apply", "-f", "-", stdin=coredns_manifests())
        self.wait(
            "kube-scheduler",
            "CoreDNS available (it reaches the apiserver through the kubernetes Service)",
            lambda: self.kubectl(
                "-n", "kube-system", "get", "deployment", "coredns", "-o",
                "jsonpath={.status.availableReplicas}", check=False,
            ).strip() == "1",
        )  # fmt: skip
        log("CoreDNS available at 10.0.0.10 (kube-dns)")


def coredns_manifests() -> str:
    corefile = """.:53 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    reload
}
"""
    labels = {"k8s-app": "kube-dns"}
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
            "data": {"Corefile": corefile},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": "kube-system", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "dnsPolicy": "Default",
                        "priorityClassName": "system-cluster-critical",
                        "containers": [
                            {
                                "name": "coredns",
                                "image": COREDNS_IMAGE,
                                "imagePullPolicy": "Never",
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [
                                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                ],
                                "readinessProbe": {
                                    "httpGet": {"path": "/ready", "port": 8181},
                                    "periodSeconds": 2,
                                },
                                "livenessProbe": {
                                    "httpGet": {"path": "/health", "port": 8080},
                                    "periodSeconds": 10,
                                },
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                                },
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns"}],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
            "spec": {
                "clusterIP": DNS_IP,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                ],
            },
        },
    ]
    return yaml.safe_dump_all(docs, sort_keys=False)


def write_kubeconfig(path: Path, server: str, ca: pki.KeyPair, user: pki.KeyPair) -> None:
    import base64

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "meshtool-node",
                "cluster": {"server": server, "certificate-authority-data": b64(ca.cert_pem)},
            }
        ],
        "users": [
            {
                "name": "meshtool-node",
                "user": {
                    "client-certificate-data": b64(user.cert_pem),
                    "client-key-data": b64(user.key_pem),
                },
            }
        ],
        "contexts": [
            {
                "name": "meshtool-node",
                "context": {"cluster": "meshtool-node", "user": "meshtool-node"},
            }
        ],
        "current-context": "meshtool-node",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


# -------------------------------------------------------------------------------------- down


def down(root: Path | None = None) -> None:
    """Remove everything `up()` created. Safe to repeat; works from the state file if present."""
    started = time.monotonic()
    p = Paths(root or cluster_dir())
    state: dict[str, Any] = {"pids": {}, "created": [], "sysctls": {}, "links": [DUMMY, BRIDGE]}
    if p.state.exists():
        state = json.loads(p.state.read_text())
    pids: dict[str, int] = state.get("pids", {})
    ours = _binaries(p)

    _stop(pids, "kubelet", ours)
    if p.sock.exists() and "containerd" in pids and _alive(pids["containerd"]):
        _remove_containers(p)
    for name in COMPONENTS[1:]:
        _stop(pids, name, ours)
    _kill_strays(_node_binaries(p))
    _kill_cgroups()
    _unmount([str(p.root), *HOST_PATHS])
    _remove_cgroups()
    for link in state.get("links", []):
        if Path(f"/sys/class/net/{link}").exists():
            run(["ip", "link", "del", link], check=False)
    _clean_iptables(p, state.get("nft_tables"))
    for key, value in state.get("sysctls", {}).items():
        if _sysctl(key) != value:
            try:
                Path("/proc/sys", key).write_text(value)
            except OSError as exc:
                log(f"could not restore {key}={value}: {exc}")
    for path in state.get("created", []):
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
        elif os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
    if p.root.exists():
        if p.logs.exists():  # the last run's logs, for a post-mortem
            kept = p.root.with_name(p.root.name + "-last-logs")
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(p.logs, kept)
        shutil.rmtree(p.root, ignore_errors=True)
    log(f"down in {time.monotonic() - started:.0f}s")


def _binaries(p: Paths) -> set[str]:
    names = [*COMPONENTS, "containerd-shim-runc-v2", "runc"]
    return {str(p.bin(n).resolve()) for n in names}


def _node_binaries(p: Paths) -> set[str]:
    """The binaries only this cluster runs (~/.cache/meshtool/node). etcd and kube-apiserver are
    not among them: the test harness of every worktree runs those same cached files."""
    return {b for b in _binaries(p) if Path(b).is_relative_to(p.node.resolve())}


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def _stop(pids: dict[str, int], name: str, ours: set[str], timeout: float = 20.0) -> None:
    pid = pids.get(name)
    if pid is None or not _alive(pid) or _exe(pid) not in ours:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        log(f"{name} ({pid}) did not stop in {timeout:.0f}s: killed")
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _remove_containers(p: Paths) -> None:
    ctr: list[str | Path] = [p.bin("ctr"), f"--address={p.sock}", "-n", "k8s.io"]
    tasks = run([*ctr, "tasks", "ls", "-q"], check=False, quiet=True).split()
    for task in tasks:
        run([*ctr, "tasks", "kill", "-s", "SIGKILL", task], check=False, quiet=True)
    deadline = time.monotonic() + 15
    for task in tasks:
        while time.monotonic() < deadline:
            out = run([*ctr, "tasks", "delete", task], check=False, quiet=True)
            if task in out or task not in run([*ctr, "tasks", "ls", "-q"], check=False, quiet=True):
                break
            time.sleep(0.3)
    for container in run([*ctr, "containers", "ls", "-q"], check=False, quiet=True).split():
        run([*ctr, "containers", "delete", container], check=False, quiet=True)


def _kill_strays(ours: set[str]) -> None:
    """containerd's shims (and anything else started from the node binaries) outlive containerd."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _exe(int(entry.name)) in ours:
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)


def _kubepods() -> list[Path]:
    base = Path("/sys/fs/cgroup")
    found = [base / "kubepods"] if (base / "cgroup.controllers").exists() else []
    if not found and base.exists():
        found = [c / "kubepods" for c in base.iterdir() if (c / "kubepods").is_dir()]
    return [f for f in found if f.is_dir()]


def _kill_cgroups() -> None:
    for _ in range(20):
        alive = False
        for root in _kubepods():
            for procs in root.rglob("cgroup.procs"):
                for pid in procs.read_text().split():
                    alive = True
                    with contextlib.suppress(OSError):
                        os.kill(int(pid), signal.SIGKILL)
        if not alive:
            return
        time.sleep(0.2)


def _remove_cgroups() -> None:
    for root in _kubepods():
        for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError as exc:
                log(f"could not remove cgroup {dirpath}: {exc}")


def _unmount(prefixes: Sequence[str]) -> None:
    for _ in range(5):
        points = []
        for line in Path("/proc/self/mounts").read_text().splitlines():
            point = line.split()[1].replace("\\040", " ")
            if any(point == pre or point.startswith(pre.rstrip("/") + "/") for pre in prefixes):
                points.append(point)
        if not points:
            return
        for point in sorted(set(points), key=len, reverse=True):
            if subprocess.run(["umount", point], capture_output=True, check=False).returncode:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _nft_tables() -> list[str]:
    if shutil.which("nft") is None:
        return []
    return run(["nft", "list", "tables"], check=False, quiet=True).splitlines()


def _clean_iptables(p: Paths, tables_before: list[str] | None) -> None:
    """kube-proxy's own cleanup, then any KUBE-/CNI- rule left, then the nf_tables tables
    (iptables-nft's filter/nat/mangle, kube-proxy's) that were not there before `up()`."""
    proxy = p.bin("kube-proxy")
    if proxy.exists():
        run([proxy, "--cleanup"], check=False, quiet=True)
    for tool in ("iptables", "ip6tables"):
        if shutil.which(f"{tool}-save") is None:
            continue
        saved = run([f"{tool}-save"], check=False, quiet=True)
        kept = [line for line in saved.splitlines() if "KUBE-" not in line and "CNI-" not in line]
        if len(kept) != len(saved.splitlines()):
            subprocess.run(
                [f"{tool}-restore"], input="\n".join(kept) + "\n", text=True, check=False
            )
    before = set(tables_before or [])
    for table in _nft_tables():
        ours = table.endswith((" kube-proxy", " kube-proxy-nat"))
        if ours or (tables_before is not None and table not in before):
            run(["nft", "delete", *table.split()], check=False)


def _sysctl(key: str) -> str | None:
    try:
        return Path("/proc/sys", key).read_text().strip()
    except OSError:
        return None


def host_snapshot(root: Path | None = None) -> dict[str, Any]:
    """What `down()` must restore: links, mounts, nf_tables tables, KUBE-/CNI- rules, kubepods
    cgroups, the machine-wide paths, sysctls, and processes running from the node binaries.
    """
    p = Paths(root or cluster_dir())
    ours = _node_binaries(p)
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    rules = run(["iptables-save"], check=False, quiet=True) if shutil.which("iptables-save") else ""
    return {
        "links": sorted(os.listdir("/sys/class/net")),
        "mounts": sorted(line.split()[1] for line in mounts),
        "nft_tables": sorted(_nft_tables()),
        "kube_rules": [line for line in rules.splitlines() if "KUBE-" in line or "CNI-" in line],
        "kubepods": [str(c) for c in _kubepods()],
        "paths": [path for path in (*HOST_PATHS, str(p.root)) if os.path.lexists(path)],
        "sysctls": {k: _sysctl(k) for k in SYSCTLS},
        "processes": sorted(
            _exe(int(e.name))
            for e in Path("/proc").iterdir()
            if e.name.isdigit() and _exe(int(e.name)) in ours
        ),
    }


def status(root: Path | None = None) -> int:
    p = Paths(root or cluster_dir())
    if not p.state.exists():
        print("cluster: not up")
        return 1
    state = json.loads(p.state.read_text())
    for name, pid in state["pids"].items():
        print(f"{name:24} {pid:>8} {'running' if _alive(pid) else 'EXITED'}")
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
    print(f"usage: {sys.argv[0]} up|down|status", file=sys.stderr)
    return 2
