"""One SPIFFE trust domain on its own local cluster, for two-cluster federation tests and the demo.

`SpiffeCluster` is a control plane (`ControlPlane`, its own ports and work directory), the
controller manifests applied as an operator would (`kubectl apply -k controller-manifests`, so the
CRDs and the RBAC are the shipped ones), a `meshtool controller` process running as the
controller's ServiceAccount with only the spiffe signer, its own CA pool file and trust domain,
and its SPIFFE bundle endpoint (`https_spiffe`) on a free loopback port; plus a kubelet simulator
for one node that writes pods' credential folders. Several run side by side in one process.

What it offers is what an operator or a workload does: read our bundle endpoint out of band
(`bootstrap`, trusting our own published anchors), federate with a peer (`federate`, a
FederatedTrustDomain with the peer's bootstrap bundle), de-federate (`defederate`), find the
bundles published for a trust domain (`bundles_for`), rotate the CA (`prepare_ca`, `activate_ca`:
`meshtool ca ... --file` on the pool file the controller watches), run pods with a SPIFFE
credential folder (`workload`) and have the kubelet renew a pod's SVID now (`refresh`). Every
wait has a deadline; `stop()` ends every process it started, also after a failed start.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from meshtool.api import spiffebundle, trustbundle
from meshtool.clock import SystemClock
from meshtool.kube import errors, resources
from meshtool.pki import capool
from meshtool.testing import bundlefetch, federation, fleet, nodeapi, processes
from meshtool.testing.controllerproc import ControllerProcess
from meshtool.testing.controlplane import ControlPlane
from meshtool.testing.kubectl import Kubectl
from meshtool.testing.kubelet import KubeletSimulator

JSON = dict[str, Any]
CONTROLLER_USER = "system:serviceaccount:mesh-controller:meshtool-controller"
CONTROLLER_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:mesh-controller")
SIGNER_DOMAIN = "row-major.net"
SIGNER = f"{SIGNER_DOMAIN}/spiffe"
VOLUME = "spiffe-credentials"
READY_TIMEOUT = 90.0
POLL = 0.25
_T = TypeVar("_T")


class SpiffeCluster:
    def __init__(
        self,
        *,
        name: str,
        trust_domain: str,
        version: str,
        repo: Path,
        workdir: Path,
        refresh_hint: int = 5,
    ) -> None:
        self.name, self.trust_domain, self.version = name, trust_domain, version
        self.repo, self.workdir, self.refresh_hint = repo, workdir, refresh_hint
        self.plane = ControlPlane(version, workdir / "k8s")
        self.pool_file = workdir / "spiffe-ca-pool.json"
        self.endpoint_port = processes.free_port()
        self.endpoint_url = f"https://127.0.0.1:{self.endpoint_port}/"
        self.endpoint_id = federation.endpoint_spiffe_id(trust_domain)
        self.node = f"{name}-node"
        self.controller: ControllerProcess | None = None
        self.kubelet: KubeletSimulator | None = None
        self.ctb_version = ""
        self._stack = contextlib.AsyncExitStack()

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> SpiffeCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        await self._stack.enter_async_context(self.plane)
        self.admin = await self._stack.enter_async_context(self.plane.client())
        self.ctb_version = (await nodeapi.served_versions(self.admin, "clustertrustbundles"))[0]
        kubectl = Kubectl.of(self.plane)
        await kubectl.run("apply", "-k", str(self.repo / "controller-manifests"), timeout=120)
        self._write_pool()
        self.controller = ControllerProcess(
            self.controller_args(), workdir=self.workdir, name=f"{self.name}-controller"
        )
        self.controller.start()
        self._stack.callback(self.controller.stop)
        await self.controller.wait_ready(timeout=READY_TIMEOUT)
        await self._start_kubelet()
        await self.bootstrap(timeout=READY_TIMEOUT)  # the endpoint serves our bundle

    def controller_args(self) -> list[str]:
        kubeconfig = self.plane.user(CONTROLLER_USER, CONTROLLER_GROUPS)
        return [
            *("--kubeconfig", str(kubeconfig), "--log-level", "debug"),
            *("--enable-spiffe-signer", "--spiffe-ca-pool", str(self.pool_file)),
            *("--spiffe-trust-domain", self.trust_domain),
            *("--bundle-endpoint-listen", f"127.0.0.1:{self.endpoint_port}"),
            *("--bundle-endpoint-profile", federation.HTTPS_SPIFFE),
            *("--bundle-refresh-hint", str(self.refresh_hint)),
            # Peers' bundles: fetch as often as their hint asks (the default floor is 30 s).
            *("--federation", "--federation-min-refresh", "1"),
        ]

    def _write_pool(self) -> None:
        pool = capool.new_pool(
            ca_id="1",
            name=f"{self.trust_domain} spiffe",
            key_type="ecdsa-p256",
            clock=SystemClock(),
        )
        self.pool_file.write_bytes(capool.dump(pool))

    async def _start_kubelet(self) -> None:
        config = self.plane.user(f"system:node:{self.node}", ["system:nodes"])
        client = await self._stack.enter_async_context(self.plane.client(config))
        sim = KubeletSimulator(
            client, self.node, self.workdir / "kubelet", SystemClock(), jitter=False
        )
        self.kubelet = await self._stack.enter_async_context(sim)

    # -- the bundle endpoint and federation ------------------------------------------------

    async def own_anchors(self) -> str:
        """The PEM of our spiffe signer's primary ClusterTrustBundle."""
        name = trustbundle.bundle_name(SIGNER)
        ctb = await self.admin.get(resources.cluster_trust_bundles(self.ctb_version), name)
        return str(ctb["spec"]["trustBundle"])

    async def bootstrap(self, *, timeout: float = 30.0) -> tuple[bytes, spiffebundle.SpiffeBundle]:
        """Our bundle as a peer's operator fetches it once (`curl --cacert` plus the ID check);
        retried until `timeout` while the endpoint or our bundle is not there yet."""

        async def attempt() -> tuple[bytes, spiffebundle.SpiffeBundle]:
            return await asyncio.to_thread(
                bundlefetch.bootstrap,
                self.endpoint_url,
                anchors_pem=await self.own_anchors(),
                spiffe_id=self.endpoint_id,
                now=dt.datetime.now(dt.UTC),
            )

        retried = (bundlefetch.FetchError, spiffebundle.BundleError, errors.NotFound)
        return await retry(attempt, retried, timeout=timeout, what=f"{self.name}'s bundle")

    async def federate(self, peer: SpiffeCluster) -> JSON:
        """Trust `peer`'s trust domain: a FederatedTrustDomain with its bootstrap bundle."""
        body, _ = await peer.bootstrap()
        obj = federation.federated_trust_domain(
            trust_domain=peer.trust_domain,
            endpoint_url=peer.endpoint_url,
            endpoint_id=peer.endpoint_id,
            bootstrap=body,
        )

        async def create() -> JSON:
            return await self.admin.create(federation.FEDERATED_TRUST_DOMAINS, obj)

        # Right after `kubectl apply` the CRD may not be served yet (404 until Established).
        return await retry(create, (errors.NotFound,), timeout=30, what="the FederatedTrustDomain")

    async def defederate(self, peer_td: str) -> None:
        await self.admin.delete(federation.FEDERATED_TRUST_DOMAINS, peer_td)

    async def federation_status(self, peer_td: str) -> JSON:
        obj = await self.admin.get(federation.FEDERATED_TRUST_DOMAINS, peer_td)
        return dict(obj.get("status") or {})

    async def bundles_for(self, peer_td: str) -> list[Mapping[str, Any]]:
        """Our spiffe signer's ClusterTrustBundles that carry `peer_td`'s anchors."""
        listed = await self.admin.list(resources.cluster_trust_bundles(self.ctb_version))
        return federation.peer_bundles(listed.items, signer_name=SIGNER, peer_td=peer_td)

    async def prepare_ca(self) -> capool.CA:
        """`meshtool ca prepare --file` on our pool: a new CA, published, not signing yet."""
        before = {ca.id for ca in self._pool().cas}
        await self._meshtool_ca("prepare")
        (new,) = [ca for ca in self._pool().cas if ca.id not in before]
        return new

    async def activate_ca(self, ca_id: str) -> None:
        """`meshtool ca activate`: `ca_id` signs from now on (the controller reloads the file)."""
        await self._meshtool_ca("activate", ca_id)

    async def _meshtool_ca(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "meshtool", "ca", "--file", str(self.pool_file), *args],
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
        if proc.returncode != 0:
            text = out.decode(errors="replace")
            raise RuntimeError(f"meshtool ca {' '.join(args)} failed: {text}")

    def _pool(self) -> capool.CAPool:
        return capool.load(self.pool_file.read_bytes(), clock=SystemClock(), allow_expired=True)

    # -- workloads -------------------------------------------------------------------------

    async def workload(
        self, namespace: str, name: str, *, service_account: str, peers: Sequence[str]
    ) -> Path:
        """A pod with a SPIFFE credential folder for our trust domain and `peers`; its path."""
        assert self.kubelet is not None
        await fleet.create_namespace(self.admin, namespace, [service_account])
        sources = federation.credential_folder_sources(
            signer_name=SIGNER, workload_td=self.trust_domain, peers=peers
        )
        pod = fleet.pod_body(
            namespace, name, node=self.node, service_account=service_account, sources=sources,
            volume=VOLUME,
        )  # fmt: skip
        await fleet.ensure(self.admin, resources.PODS, pod)
        await self.kubelet.wait_ready(namespace, name, timeout=READY_TIMEOUT)
        return self.kubelet.volume_dir(namespace, name, VOLUME)

    async def refresh(self, namespace: str, name: str) -> None:
        """The kubelet renews the pod's SVID now (as it would at beginRefreshAt)."""
        assert self.kubelet is not None
        await self.kubelet.refresh_now(namespace, name, timeout=READY_TIMEOUT)

    def spiffe_id(self, namespace: str, service_account: str) -> str:
        return federation.workload_id(self.trust_domain, namespace, service_account)


async def retry(
    attempt: Callable[[], Awaitable[_T]],
    retried: tuple[type[BaseException], ...],
    *,
    timeout: float,
    what: str,
) -> _T:
    """`attempt()` until it does not raise one of `retried`, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await attempt()
        except retried as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: still failing after {timeout:.0f}s: {exc}") from exc
        await asyncio.sleep(POLL)


async def until(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str) -> None:
    """Wait for `check()` to be true, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(POLL)
