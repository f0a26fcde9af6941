"""A real kube-apiserver + etcd for tests, modelled on controller-runtime's envtest.

`ControlPlane(version="1.37")` starts etcd and kube-apiserver on free loopback ports with a
fresh CA, writes an admin kubeconfig (CN=admin, O=system:masters) and mints client
certificates for any identity with `user(name, groups)`. There is no controller-manager,
scheduler or kubelet: nothing garbage-collects, namespaces never finish deleting, and no
ServiceAccount is created for you. ServiceAccount admission stays ON (pods naming a missing SA
are rejected, as in a real cluster); tests create the SAs they use, which they need anyway
because a PodCertificateRequest carries the SA's UID.

The apiserver runs with Node,RBAC authorization and NodeRestriction admission, and with the
PodCertificateRequest / ClusterTrustBundle APIs of its release enabled (`version_flags`).

Environment variables:
- `KUBEBUILDER_ASSETS`: folder with kube-apiserver, etcd and kubectl (else the build cache,
  else `hack/k8s-binaries.sh` builds them; see `meshtool.testing.binaries`);
- `MESHTOOL_USE_EXISTING_CLUSTER=<kubeconfig>`: start nothing and use that cluster
  (`user()` is then unsupported).
Logs (etcd.log, kube-apiserver.log) stay in the work directory; a failed start raises
`StartFailed` with the last 40 lines of the failing process's log.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.testing import binaries, pki, processes
from meshtool.testing.processes import Child

ENV_EXISTING = "MESHTOOL_USE_EXISTING_CLUSTER"
START_TIMEOUT = 90.0
POLL_INTERVAL = 0.25
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


class StartFailed(RuntimeError):
    pass


class ControlPlane:
    def __init__(
        self,
        version: str = "1.37",
        workdir: Path | None = None,
        *,
        start_timeout: float = START_TIMEOUT,
        apiserver_flags: Sequence[str] = (),
    ) -> None:
        self.version = version
        self.start_timeout = start_timeout
        self.existing = os.environ.get(ENV_EXISTING) or None
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=f"meshtool-k8s-{version}-"))
        self._extra_flags = list(apiserver_flags)
        self._children: list[Child] = []
        self._ca: pki.KeyPair | None = None
        self.kubeconfig = (
            Path(self.existing) if self.existing else self.workdir / "admin.kubeconfig"
        )
        self.server = ""
        self.etcd_url = ""
        self.bin_dir: Path | None = None
        self.server_version = ""
        self.api_versions: frozenset[str] = frozenset()
        self.start_seconds = 0.0

    async def __aenter__(self) -> ControlPlane:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def kubectl_path(self) -> Path:
        if self.bin_dir is not None:
            return self.bin_dir / "kubectl"
        return Path(shutil.which("kubectl") or "kubectl")

    def client(
        self, kubeconfig: Path | None = None, *, qps: float = 50.0, burst: int = 100
    ) -> KubeClient:
        return KubeClient.from_kubeconfig(kubeconfig or self.kubeconfig, qps=qps, burst=burst)

    async def start(self) -> None:
        started = time.monotonic()
        if not self.existing:
            self.bin_dir = await asyncio.to_thread(binaries.locate, self.version)
            self.workdir.mkdir(parents=True, exist_ok=True)
            try:
                await self._start_processes()
            except BaseException:
                await self._stop_children()  # the work directory keeps the logs
                raise
        await self._discover()
        self.start_seconds = time.monotonic() - started

    async def stop(self) -> None:
        await self._stop_children()
        if self._own_workdir and not self.existing:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def _stop_children(self) -> None:
        while self._children:  # apiserver first, then etcd
            await asyncio.to_thread(self._children.pop().stop)

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self._children]

    def user(self, name: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig authenticating as `name` in `groups` (client certificate)."""
        if self._ca is None:
            raise RuntimeError(
                f"user() needs a control plane started by meshtool (not {ENV_EXISTING})"
            )
        pair = pki.client_cert(self._ca, name, groups)
        path = self.workdir / "users" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.kubeconfig"
        path.parent.mkdir(exist_ok=True)
        _write_kubeconfig(path, self.server, self._ca, pair)
        return path

    async def compact(self) -> int:
        """Compact etcd up to its current revision, so older resourceVersions are Gone (410)."""
        if not self.etcd_url:
            raise RuntimeError("compact() needs a control plane started by meshtool")
        return await asyncio.to_thread(_etcd_compact, self.etcd_url)

    async def _start_processes(self) -> None:
        assert self.bin_dir is not None
        etcd_url = await self._start_etcd(self.bin_dir)
        await self._start_apiserver(self.bin_dir, etcd_url)

    async def _start_etcd(self, bin_dir: Path) -> str:
        client_port, peer_port = processes.free_port(), processes.free_port()
        url, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
        etcd = self._spawn(
            "etcd",
            [
                str(bin_dir / "etcd"),
                f"--data-dir={self.workdir / 'etcd-data'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        await self._wait(etcd, lambda: asyncio.to_thread(_etcd_healthy, url))
        self.etcd_url = url
        return url

    async def _start_apiserver(self, bin_dir: Path, etcd_url: str) -> None:
        port = processes.free_port()
        self.server = f"https://127.0.0.1:{port}"
        certs = self._write_pki()
        apiserver = self._spawn(
            "kube-apiserver",
            [str(bin_dir / "kube-apiserver"), *self._apiserver_flags(etcd_url, port, certs)],
        )
        async with self.client() as kube:
            await self._wait(apiserver, lambda: _apiserver_ready(kube))

    def _apiserver_flags(self, etcd_url: str, port: int, certs: Path) -> list[str]:
        return [
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={certs}",
            f"--tls-cert-file={certs / 'serving.crt'}",
            f"--tls-private-key-file={certs / 'serving.key'}",
            f"--client-ca-file={certs / 'ca.crt'}",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={certs / 'sa.pub'}",
            f"--service-account-signing-key-file={certs / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            # 1.37 refuses a loopback advertise address with the default (lease) reconciler.
            "--endpoint-reconciler-type=none",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            *VERSION_FLAGS.get(self.version, []),
            *self._extra_flags,
        ]

    def _write_pki(self) -> Path:
        certs = self.workdir / "pki"
        certs.mkdir(exist_ok=True)
        self._ca = pki.new_ca()
        serving, sa_key = pki.serving_cert(self._ca), pki.new_key()
        files = {
            "ca.crt": self._ca.cert_pem,
            "serving.crt": serving.cert_pem,
            "serving.key": serving.key_pem,
            "sa.key": pki.key_pem(sa_key),
            "sa.pub": pki.public_pem(sa_key),
        }
        for name, data in files.items():
            (certs / name).write_bytes(data)
        admin = pki.client_cert(self._ca, "admin", ["system:masters"])
        _write_kubeconfig(self.kubeconfig, self.server, self._ca, admin)
        return certs

    def _spawn(self, name: str, args: list[str]) -> Child:
        child = Child(name, args, self.workdir / f"{name}.log")
        self._children.append(child)
        return child

    async def _wait(self, child: Child, ready: Callable[[], Awaitable[bool]]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not await ready():
            if not child.alive:
                raise StartFailed(self._failure(child, f"exited with {child.popen.returncode}"))
            if time.monotonic() > deadline:
                raise StartFailed(
                    self._failure(child, f"not ready after {self.start_timeout:.0f}s")
                )
            await asyncio.sleep(POLL_INTERVAL)

    def _failure(self, child: Child, what: str) -> str:
        where = f"{child.name} (Kubernetes {self.version})"
        return f"{where} {what}; last lines of {child.log_path}:\n{child.log_tail()}"

    async def _discover(self) -> None:
        async with self.client() as kube:
            self.server = kube.server
            self.server_version = str((await kube.get_path("/version")).get("gitVersion", ""))
            core = await kube.get_path("/api")
            groups = await kube.get_path("/apis")
        versions = set(core.get("versions") or [])
        for group in groups.get("groups") or []:
            versions.update(str(v["groupVersion"]) for v in group.get("versions") or [])
        self.api_versions = frozenset(versions)


async def _apiserver_ready(kube: KubeClient) -> bool:
    if not await kube.healthy():
        return False
    try:
        await kube.get(resources.NAMESPACES, "default")
    except errors.KubeError:
        return False
    return True


def _etcd_healthy(url: str) -> bool:
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


def _etcd_compact(url: str) -> int:
    """Through etcd's JSON gateway: read the current revision, then compact to it."""
    key = base64.b64encode(b"/").decode()
    revision = int(_etcd_post(f"{url}/v3/kv/range", {"key": key})["header"]["revision"])
    _etcd_post(f"{url}/v3/kv/compaction", {"revision": revision, "physical": True})
    return revision


def _write_kubeconfig(path: Path, server: str, ca: pki.KeyPair, user: pki.KeyPair) -> None:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "meshtool",
                "cluster": {"server": server, "certificate-authority-data": b64(ca.cert_pem)},
            }
        ],
        "users": [
            {
                "name": "meshtool",
                "user": {
                    "client-certificate-data": b64(user.cert_pem),
                    "client-key-data": b64(user.key_pem),
                },
            }
        ],
        "contexts": [{"name": "meshtool", "context": {"cluster": "meshtool", "user": "meshtool"}}],
        "current-context": "meshtool",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
