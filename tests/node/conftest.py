"""Real-node tests: a real kubelet, containerd and runc on this machine (`make node-test`).

They need root, the binaries of hack/k8s-binaries.sh and hack/node-binaries.sh, the images of
hack/node-images.sh, and the machine-wide resources of one local cluster, so the default
`make test` does not collect them: they are collected only with MESHTOOL_NODE_TEST=1.

One cluster serves the whole session (starting one per module would cost more than the tests):
`kubectl` brings it up (after removing leftovers of an interrupted run) and, at the end, down,
and then checks that the host is exactly as before. `quickstart` applies the README's
quickstart verbatim, once; the test modules run in file-name order, because later ones change
the cluster (a second CA, a kubelet restart) in ways the earlier checks must not see.
MESHTOOL_NODE_KEEP=1 leaves the cluster up; MESHTOOL_NODE_REUSE=1 (for developing tests) uses
the cluster that is up as it is and skips the CA pool Secrets that exist.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from cryptography import x509

from meshtool.clock import SystemClock, format_rfc3339
from meshtool.pki import capool, pem
from meshtool.testing.node import cluster
from meshtool.testing.node.paths import run

if os.environ.get("MESHTOOL_NODE_TEST") != "1":
    collect_ignore_glob = ["test_*.py"]
else:
    from .nodekit import (
        JSON,
        ROOT,
        Kubectl,
        leaf_serial,
        pcrs,
        ready,
        running_ready,
        volume_dir,
        wait_for,
    )

SIGNERS = ("service-dns", "spiffe", "pod-identity")
SPIFFE_FOLDER = "spiffe-credentials"  # the spiffe-mtls pods' credential folder volume
SPIFFE_TRUST_FILE = "cluster.local.spiffe-trust-bundle.pem"
FRACTION = "MESHTOOL_REFRESH_FRACTION"
EXAMPLE_NAMESPACES = (
    "service-dns-unauth-client",
    "service-dns-spiffe-client",
    "spiffe-mtls",
    "service-dns-statefulset",
    "pod-identity-client",
)
SERVER_URLS = {ns: f"https://server.{ns}.svc/" for ns in EXAMPLE_NAMESPACES} | {
    # The StatefulSet example's client dials its server by the per-pod name.
    "service-dns-statefulset": "https://server-0.server.service-dns-statefulset.svc:8443/",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "node: needs a real one-node cluster on this machine (make node-test)"
    )


@pytest.fixture(scope="session")
def kubectl() -> Iterator[Kubectl]:
    if os.environ.get("MESHTOOL_NODE_REUSE") == "1":
        yield Kubectl(cluster.Paths(cluster.cluster_dir()).admin)
        return
    python = [sys.executable, "-m", "meshtool.testing.node"]
    subprocess.run([*python, "down"], check=False)  # leftovers of an interrupted run
    before = cluster.host_snapshot()
    up = subprocess.run([*python, "up"], check=False)
    try:
        assert up.returncode == 0, "cluster up failed (logs: see its output)"
        yield Kubectl(cluster.Paths(cluster.cluster_dir()).admin)
    finally:
        if os.environ.get("MESHTOOL_NODE_KEEP") != "1":
            subprocess.run([*python, "down"], check=True)
            after = cluster.host_snapshot()
            assert after == before, "cluster-down left something behind"


@pytest.fixture(scope="session")
def quickstart(kubectl: Kubectl) -> Kubectl:
    """The README's quickstart, verbatim: controller, three CA pool Secrets, examples; then
    wait until the controller replicas and every example pod are Running and Ready."""
    kubectl("apply", "-k", str(ROOT / "controller-manifests"))
    env = {**os.environ, "KUBECONFIG": str(kubectl.kubeconfig)}
    for signer in SIGNERS:
        if reused_secret(kubectl, f"{signer}-ca-pool"):
            continue
        subprocess.run(
            [sys.executable, "-m", "meshtool", "make-ca-pool-secret", "--namespace",
             "mesh-controller", "--name", f"{signer}-ca-pool", "--ca-id", "1"],
            env=env, check=True,
        )  # fmt: skip
    kubectl("apply", "-f", str(ROOT / "example-manifests/"))
    wait_for(
        "two controller replicas Running and Ready",
        lambda: len(running_ready(kubectl.json("-n", "mesh-controller", "get", "pods"))) == 2,
    )
    for namespace in EXAMPLE_NAMESPACES:
        wait_for(
            f"server and client Running and Ready in {namespace}",
            lambda ns=namespace: len(running_ready(kubectl.json("-n", ns, "get", "pods"))) == 2,
        )
    return kubectl


def reused_secret(kubectl: Kubectl, name: str) -> bool:
    if os.environ.get("MESHTOOL_NODE_REUSE") != "1":
        return False
    return kubectl.run("-n", "mesh-controller", "get", "secret", name).returncode == 0


@dataclass
class RefreshWatch:
    """The spiffe-mtls server as it was when the tiny refresh fraction took effect."""

    pod: JSON
    serial: str
    since: str  # RFC 3339: client log lines from here on must all be successes
    armed: float  # time.monotonic()
    begin_refresh_at: str


@pytest.fixture(scope="session")
def refresh_watch(quickstart: Kubectl) -> RefreshWatch:
    """MESHTOOL_REFRESH_FRACTION=0.001 on the controller, then new spiffe-mtls pods, whose
    certificates therefore say beginRefreshAt = notBefore + 10 minutes."""
    mc = ("-n", "mesh-controller")
    quickstart(*mc, "set", "env", "deployment/meshtool-controller", f"{FRACTION}=0.001")
    quickstart(*mc, "rollout", "status", "deployment/meshtool-controller", "--timeout=300s")
    ns = ("-n", "spiffe-mtls")
    retired = pod_ips(quickstart, "server")
    quickstart(*ns, "rollout", "restart", "deployment/server", "deployment/client")
    for name in ("server", "client"):
        quickstart(*ns, "rollout", "status", f"deployment/{name}", "--timeout=300s")
    since = settled_since(quickstart, retired)
    server = wait_for("one spiffe-mtls server pod", lambda: live_pod(quickstart, "server"))
    pcr = next(
        p for p in pcrs(quickstart, *ns) if p["spec"]["podName"] == server["metadata"]["name"]
    )
    serial = leaf_serial(volume_dir(server, SPIFFE_FOLDER) / "credential-bundle.pem")
    begin = pcr["status"]["beginRefreshAt"]
    return RefreshWatch(server, serial, since, time.monotonic(), begin)


def settled_since(kubectl: Kubectl, retired: set[str]) -> str:
    """The first whole second (RFC 3339) from which every client request must succeed: the old
    server and client pods are gone, kube-proxy no longer sends Service traffic to the old
    server's IP (a request sent there meets no ARP answer: "No route to host"), and the new
    client has had a request answered since."""
    for app in ("server", "client"):
        wait_for(f"one live spiffe-mtls {app} pod", lambda a=app: live_pod(kubectl, a))
    wait_for(f"kube-proxy drops the old server {retired}", lambda: not dnat_targets() & retired)
    mark = next_second()
    wait_for("a successful request since " + mark, lambda: ": 200 " in client_log(kubectl, mark))
    return next_second()


def next_second() -> str:
    """The next whole second, once it has begun: --since-time takes seconds, and truncating
    down would let in what was logged earlier in the same second."""
    later = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
    time.sleep(max(0.0, (later - dt.datetime.now(dt.UTC)).total_seconds()))
    return format_rfc3339(later)


def app_pods(kubectl: Kubectl, app: str) -> list[JSON]:
    return kubectl.json("-n", "spiffe-mtls", "get", "pods", "-l", f"app={app}")["items"]


def pod_ips(kubectl: Kubectl, app: str) -> set[str]:
    return {p["status"]["podIP"] for p in app_pods(kubectl, app) if p["status"].get("podIP")}


def dnat_targets() -> set[str]:
    """The IPs kube-proxy's NAT rules send Service traffic to, read with iptables-save."""
    words = run(["iptables-save", "-t", "nat"]).split()
    found = (words[i + 1] for i, w in enumerate(words[:-1]) if w == "--to-destination")
    return {target.rsplit(":", 1)[0] for target in found}


POOL = ("--namespace", "mesh-controller", "--name", "spiffe-ca-pool")


@dataclass
class Rotation:
    """The manual rotation of the spiffe pool that test_04 begins and test_09 finishes."""

    old: x509.Certificate  # the root of the CA that signed until `activate`
    new: x509.Certificate  # the root of the prepared, then active, CA
    old_id: str
    new_id: str
    steps: list[str] = field(default_factory=list)  # report lines: step, time, `ca status`

    def record(self, kubectl: Kubectl, step: str) -> None:
        at = dt.datetime.now(dt.UTC).strftime("%H:%M:%SZ")
        status = meshtool_ca(kubectl, "status").stdout.rstrip()
        self.steps.append(f"--- {at} {step}\n{status}")


def meshtool_ca(kubectl: Kubectl, *args: str) -> subprocess.CompletedProcess[str]:
    """`meshtool ca --namespace mesh-controller --name spiffe-ca-pool ARGS`, as an operator."""
    env = {**os.environ, "KUBECONFIG": str(kubectl.kubeconfig)}
    cmd = [sys.executable, "-m", "meshtool", "ca", *POOL, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=120)


def spiffe_pool(kubectl: Kubectl) -> capool.CAPool:
    secret = kubectl.json("-n", "mesh-controller", "get", "secret", "spiffe-ca-pool")
    return capool.load(base64.b64decode(secret["data"]["pool"]), clock=SystemClock())


@pytest.fixture(scope="session")
def rotation(quickstart: Kubectl, refresh_watch: RefreshWatch) -> Rotation:
    """The first half of a manual rotation of the spiffe pool, as the README's runbook says:
    `ca prepare`; wait until the spiffe-mtls server's and client's trust-bundle files carry the
    new root (the kubelet's bundle cache); `ca activate` (the old CA is retired). test_04 checks
    it; test_09 finishes it (`ca remove --force`) after the kubelet restart of test_08 has
    renewed every certificate, and counts the client's requests through all of it."""
    before = spiffe_pool(quickstart)
    old = before.signing_ca
    prepared = meshtool_ca(quickstart, "prepare")
    assert prepared.returncode == 0, prepared.stderr
    known = {ca.id for ca in before.cas}
    (new,) = [ca for ca in spiffe_pool(quickstart).cas if ca.id not in known]
    done = Rotation(old.root, new.root, old.id, new.id)
    done.record(quickstart, f"ca prepare ({prepared.stdout.strip()})")
    for app in ("server", "client"):
        wait_for(
            f"the spiffe-mtls {app}'s {SPIFFE_TRUST_FILE} carries CA {new.id}",
            lambda a=app: trust_file_has(quickstart, a, new.root),
            480,
        )
    done.record(quickstart, "both trust-bundle files carry the new root")
    activated = meshtool_ca(quickstart, "activate", new.id)
    assert activated.returncode == 0, activated.stderr
    done.record(quickstart, f"ca activate {new.id} ({activated.stdout.strip()})")
    return done


def trust_file_has(kubectl: Kubectl, app: str, cert: x509.Certificate) -> bool:
    """Whether the spiffe-mtls `app`'s credential folder trusts `cert` for cluster.local."""
    pod = live_pod(kubectl, app)
    if pod is None:
        return False
    trust = volume_dir(pod, SPIFFE_FOLDER) / SPIFFE_TRUST_FILE
    return cert in pem.certificates(trust.read_bytes())


def client_log(kubectl: Kubectl, since: str | None = None) -> str:
    extra = [f"--since-time={since}"] if since else []
    return kubectl.run("-n", "spiffe-mtls", "logs", "deploy/client", *extra).stdout


def live_pod(kubectl: Kubectl, app: str) -> JSON | None:
    pods = app_pods(kubectl, app)
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp") and ready(p)]
    return live[0] if len(live) == 1 and len(pods) == 1 else None
