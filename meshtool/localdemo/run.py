"""`meshtool demo`: the whole system on this machine, end to end, with a report.

Steps: start kube-apiserver + etcd; apply controller-manifests/ (-k) with the real kubectl; create
the CA pool Secrets with `meshtool make-ca-pool-secret`; run the controller Deployment's
replicas locally under the manifests' RBAC; apply example-manifests/; create each Deployment's
pod on the demo node and let the kubelet simulator project its volumes; run every example's
server and client; print a report per scenario; then force a refresh of one server's
certificate and show the same server process presenting the new serial. Then the
`spiffe-federation` scenario on two more control planes (`meshtool.localdemo.federation`).
`selected` picks `examples` (all of the above but the last) and/or `spiffe-federation`.

It returns True only if everything passed. Whatever happens (including Ctrl-C), every process
it started is stopped before it returns; with `keep_running` the cluster stays up until
Ctrl-C, and the kubeconfig path and example commands are printed (the federation scenario,
which needs clusters of its own, is then left out).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from meshtool.clock import SystemClock
from meshtool.kube import resources
from meshtool.kube.client import KubeClient
from meshtool.localdemo import cluster, federation, manifests, scenarios, tls
from meshtool.testing.controllerproc import ControllerProcess
from meshtool.testing.controlplane import ControlPlane
from meshtool.testing.kubectl import Kubectl
from meshtool.testing.kubelet import KubeletSimulator

NODE = "demo-node"
EXAMPLES = "examples"
SCENARIOS = frozenset({EXAMPLES, federation.NAME})
"""`examples`: every namespace of example-manifests/ and the refresh, on one control plane;
`spiffe-federation`: two more control planes federated (`meshtool.localdemo.federation`)."""


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


class Demo:
    def __init__(
        self,
        repo: Path,
        *,
        keep_running: bool,
        version: str = "1.37",
        selected: frozenset[str] = SCENARIOS,
    ) -> None:
        self.repo, self.keep_running, self.version = repo, keep_running, version
        self.selected = selected
        self.workdir = Path(tempfile.mkdtemp(prefix="meshtool-demo-"))
        self.servers: list[scenarios.Server] = []
        self.controllers: list[ControllerProcess] = []
        self.rerun: tuple[
            list[manifests.Workload],
            list[manifests.ServicePort],
            Callable[[manifests.Workload], Path],
        ] = ([], [], lambda w: Path())

    async def run(self) -> bool:
        try:
            ok = True
            if EXAMPLES in self.selected:
                ok = await self._examples()
            if federation.NAME in self.selected and not self.keep_running:
                ok = await federation.run(self.repo, self.workdir, version=self.version) and ok
            return ok
        finally:
            self._stop_processes()
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def _examples(self) -> bool:
        say(f"starting kube-apiserver {self.version} and etcd (work dir {self.workdir})")
        try:
            async with ControlPlane(self.version, self.workdir / "k8s") as cp:
                say(f"control plane {cp.server_version} ready in {cp.start_seconds:.1f}s")
                return await self._with_cluster(cp)
        finally:
            self._stop_processes()

    async def _with_cluster(self, cp: ControlPlane) -> bool:
        kubectl = Kubectl.of(cp)
        say("kubectl apply -k controller-manifests/")
        await _show(kubectl, "apply", "-k", str(self.repo / "controller-manifests"))
        say("meshtool make-ca-pool-secret (service-dns, spiffe, pod-identity)")
        await cluster.make_pool_secrets(cp)
        pools = await cluster.export_pools(kubectl, self.workdir / "secrets")
        self.controllers = cluster.start_controllers(self.repo, cp, pools, self.workdir)
        for proc in self.controllers:
            await proc.wait_ready(timeout=60)
        say(f"controller running: {len(self.controllers)} replicas, sharded over Leases")
        say("kubectl apply -f example-manifests/")
        await _show(kubectl, "apply", "-f", str(self.repo / "example-manifests"))
        async with cp.client() as admin:
            node_config = cp.user(f"system:node:{NODE}", ["system:nodes"])
            async with cp.client(node_config) as node_client:
                sim = KubeletSimulator(
                    node_client, NODE, self.workdir / "kubelet", SystemClock(), jitter=False
                )
                async with sim:
                    ok = await self._scenarios(admin, sim)
                    ok = await self._refresh(sim) and ok
                    say("kubectl get podcertificaterequests -A / clustertrustbundles")
                    await _show(kubectl, "get", "podcertificaterequests", "-A")
                    await _show(kubectl, "get", "clustertrustbundles", "--show-labels")
                    if self.keep_running:
                        await self._linger(cp)
        return ok

    async def _scenarios(self, admin: KubeClient, sim: KubeletSimulator) -> bool:
        docs = manifests.load_documents(self.repo / "example-manifests")
        workloads = manifests.workloads(docs, node=NODE)
        for w in workloads:
            await admin.create(resources.PODS, w.pod, namespace=w.namespace)
        say(f"kubelet simulator projecting volumes for {len(workloads)} pods on {NODE}")
        for w in workloads:
            await sim.wait_ready(w.namespace, w.pod_name, timeout=90)

        def pod_dir(w: manifests.Workload) -> Path:
            return sim.root_dir / w.namespace / w.pod_name

        services = manifests.service_ports(docs)
        self.rerun = (workloads, services, pod_dir)
        self.servers = [
            scenarios.start_server(w, pod_dir(w), self.workdir) for w in workloads if _is_server(w)
        ]
        results = []
        for namespace in sorted({w.namespace for w in workloads}):
            servers = [s for s in self.servers if s.workload.namespace == namespace]
            clients = [w for w in workloads if w.namespace == namespace and not _is_server(w)]
            results.append(
                await scenarios.check_namespace(namespace, servers, clients, services, pod_dir)
            )
        for result in results:
            self._report(result)
        return all(r.passed for r in results)

    def _report(self, report: scenarios.ScenarioReport) -> None:
        mark = "PASS" if report.passed else "FAIL"
        print(f"\n[{mark}] {report.namespace}")
        print(f"    server certificate: {report.server_identity}")
        echoed = ", ".join(report.echoed) or "(none: the client sent no certificate)"
        print(f"    identity echoed:    {echoed}")
        for check, ok in report.checks:
            print(f"    {'ok  ' if ok else 'FAIL'} {check}")

    async def _refresh(self, sim: KubeletSimulator) -> bool:
        server = self.servers[0]
        w = server.workload
        host = f"{w.namespace}.svc"
        before = await tls.presented_certificate(server.port, host)
        say(
            f"refreshing {w.namespace}/{w.pod_name}'s certificate (serial {before.serial_number:x})"
        )
        await sim.refresh_now(w.namespace, w.pod_name, timeout=60)
        for _ in range(50):
            after = await tls.presented_certificate(server.port, host)
            if after.serial_number != before.serial_number:
                break
            await asyncio.sleep(0.2)
        same_process = server.child.alive
        changed = after.serial_number != before.serial_number
        verified = await self._client_again(w.namespace)
        ok = changed and same_process and verified
        print(f"\n[{'PASS' if ok else 'FAIL'}] certificate refresh")
        print(f"    server pid {server.child.pid} (same process: {same_process})")
        print(f"    serial before: {before.serial_number:x}")
        print(f"    serial after:  {after.serial_number:x}")
        print(f"    {'ok  ' if verified else 'FAIL'} client verifies the new certificate")
        return ok

    async def _client_again(self, namespace: str) -> bool:
        workloads, services, pod_dir = self.rerun
        servers = [s for s in self.servers if s.workload.namespace == namespace]
        clients = [w for w in workloads if w.namespace == namespace and not _is_server(w)]
        report = await scenarios.check_namespace(namespace, servers, clients, services, pod_dir)
        return report.passed

    async def _linger(self, cp: ControlPlane) -> None:
        print(f"\nThe local cluster keeps running. kubeconfig: {cp.kubeconfig}")
        print(f"  {cp.kubectl_path} --kubeconfig {cp.kubeconfig} get podcertificaterequests -A")
        print(f"  {cp.kubectl_path} --kubeconfig {cp.kubeconfig} get clustertrustbundles")
        print("Press Ctrl-C to stop.")
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()

    def _stop_processes(self) -> None:
        for server in self.servers:
            server.child.stop()
        for proc in self.controllers:
            proc.stop()


async def _show(kubectl: Kubectl, *args: str) -> None:
    print(await cluster.kubectl_out(kubectl, *args), end="")


def _is_server(w: manifests.Workload) -> bool:
    args = w.containers[0].get("args") or [""]
    return bool(args[0] == "demo-server")
