"""A real kube-apiserver + etcd for tests, modelled on controller-runtime's envtest.

`ControlPlane(version="1.37")` starts etcd and kube-apiserver on free loopback ports with a
fresh CA, writes an admin kubeconfig (CN=admin, O=system:masters) and mints client
certificates for any identity with `user(name, groups)`. There is no controller-manager,
scheduler or kubelet: nothing garbage-collects, namespaces never finish deleting, and no
ServiceAccount is created for you. ServiceAccount admission stays ON (pods naming a missing SA
are rejected, as in a real cluster); tests create the SAs they use, which they need anyway
because a PodCertificateRequest carries the SA's UID.

The apiserver runs with Node,RBAC authorization and NodeRestriction admission, and with the
PodCertificateRequest / ClusterTrustBundle APIs of its release enabled; the command lines, PKI
files, kubeconfigs and health probes are `meshtool.testing.launch`'s. This module is the
lifecycle: start in order, wait for readiness, report a failed start, stop; and, for fault
tests, `kill(name)` (SIGKILL) and `restart(name)`, which starts that process again with the same
command line, ports, data directory and PKI, so clients and kubeconfigs keep working.

With `audit=True` the apiserver writes an audit log (`audit_log`, JSON lines) of every
PodCertificateRequest status write and Lease write (`launch.write_audit_policy`): who wrote,
when, with which answer.

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
import os
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType

from meshtool.kube.client import KubeClient
from meshtool.testing import binaries, launch, pki, processes
from meshtool.testing.processes import Child

ENV_EXISTING = "MESHTOOL_USE_EXISTING_CLUSTER"
START_TIMEOUT = 90.0
POLL_INTERVAL = 0.25


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
        audit: bool = False,
    ) -> None:
        self.version = version
        self.start_timeout = start_timeout
        self.existing = os.environ.get(ENV_EXISTING) or None
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=f"meshtool-k8s-{version}-"))
        self._extra_flags = list(apiserver_flags)
        self.audit_log: Path | None = self.workdir / "audit.log" if audit else None
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

    def user(
        self,
        name: str,
        groups: Sequence[str] = (),
        *,
        server: str | None = None,
        file_name: str | None = None,
    ) -> Path:
        """A kubeconfig authenticating as `name` in `groups` (client certificate), for our
        apiserver or for `server` (a proxy in front of it); `file_name` defaults to `name`."""
        ca = self._own_ca("user()")
        path = self._user_path(file_name or name)
        launch.write_kubeconfig(path, server or self.server, ca, pki.client_cert(ca, name, groups))
        return path

    def token_user(self, label: str, token: str) -> Path:
        """A kubeconfig authenticating with a bearer token (e.g. a ServiceAccount's)."""
        path = self._user_path(f"token-{label}")
        launch.write_kubeconfig(path, self.server, self._own_ca("token_user()"), token)
        return path

    def _own_ca(self, what: str) -> pki.KeyPair:
        if self._ca is None:
            raise RuntimeError(
                f"{what} needs a control plane started by meshtool (not {ENV_EXISTING})"
            )
        return self._ca

    def _user_path(self, label: str) -> Path:
        path = self.workdir / "users" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', label)}.kubeconfig"
        path.parent.mkdir(exist_ok=True)
        return path

    def kill(self, name: str) -> None:
        """SIGKILL `name` ("etcd" or "kube-apiserver"), as a crash would; `restart` revives it."""
        self._child(name).kill()

    async def restart(self, name: str) -> None:
        """Start `name` again with its old command line (same ports, data and PKI); wait ready."""
        old = self._child(name)
        if old.alive:
            raise RuntimeError(f"{name} is still running (pid {old.pid}); kill it first")
        child = Child(name, old.args, old.log_path)
        self._children[self._children.index(old)] = child
        if name == "etcd":
            await self._wait(child, lambda: asyncio.to_thread(launch.etcd_healthy, self.etcd_url))
        else:
            async with self.client() as kube:
                await self._wait(child, lambda: launch.apiserver_ready(kube))

    async def restart_apiserver(self) -> None:
        """Stop kube-apiserver (SIGTERM, as a rolling restart would) and start it again on the
        same port with the same flags and PKI: watches end, informers re-watch."""
        await asyncio.to_thread(self._child("kube-apiserver").stop)
        await self.restart("kube-apiserver")

    def _child(self, name: str) -> Child:
        found = [c for c in self._children if c.name == name]
        if not found:
            raise RuntimeError(f"no {name} process in this control plane")
        return found[0]

    async def compact(self, revision: int | None = None) -> int:
        """Compact etcd up to `revision` (default: the current one), so older resourceVersions
        are Gone (410)."""
        if not self.etcd_url:
            raise RuntimeError("compact() needs a control plane started by meshtool")
        return await asyncio.to_thread(launch.etcd_compact, self.etcd_url, revision)

    async def revision(self) -> int:
        """etcd's current revision (what the newest resourceVersion is, as a number)."""
        return await asyncio.to_thread(launch.etcd_revision, self.etcd_url)

    async def _start_processes(self) -> None:
        assert self.bin_dir is not None
        etcd_url = await self._start_etcd(self.bin_dir)
        await self._start_apiserver(self.bin_dir, etcd_url)

    async def _start_etcd(self, bin_dir: Path) -> str:
        client_port, peer_port = processes.free_port(), processes.free_port()
        url, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
        data_dir = self.workdir / "etcd-data"
        etcd = self._spawn("etcd", launch.etcd_args(bin_dir, data_dir, url, peer))
        await self._wait(etcd, lambda: asyncio.to_thread(launch.etcd_healthy, url))
        self.etcd_url = url
        return url

    async def _start_apiserver(self, bin_dir: Path, etcd_url: str) -> None:
        port = processes.free_port()
        self.server = f"https://127.0.0.1:{port}"
        certs = self._write_pki()
        args = launch.apiserver_args(
            bin_dir,
            etcd_url=etcd_url,
            port=port,
            certs=certs,
            issuer=self.server,
            version=self.version,
            extra=[*self._extra_flags, *self._audit_flags()],
        )
        apiserver = self._spawn("kube-apiserver", args)
        async with self.client() as kube:
            await self._wait(apiserver, lambda: launch.apiserver_ready(kube))

    def _audit_flags(self) -> list[str]:
        if self.audit_log is None:
            return []
        policy = launch.write_audit_policy(self.workdir / "audit-policy.yaml")
        return [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}"]

    def _write_pki(self) -> Path:
        certs = self.workdir / "pki"
        self._ca = launch.write_pki(certs)
        admin = pki.client_cert(self._ca, "admin", ["system:masters"])
        launch.write_kubeconfig(self.kubeconfig, self.server, self._ca, admin)
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
