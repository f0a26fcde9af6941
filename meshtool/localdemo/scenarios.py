"""Running the example workloads as local processes and checking what they do.

For every example namespace: the server containers start first (as `meshtool demo-server` with
their manifest arguments, moved to a free loopback port and to the kubelet simulator's
volume folders); then each client runs a few requests (`--count`) with `--connect-to` mapping
the Service's `.svc` name to the server's loopback port. A scenario passes when every client
request succeeded and, where the client presents a SPIFFE certificate, the server echoed it;
a pod-identity certificate must also have made the server echo the client's pod and node.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from meshtool.localdemo import manifests, tls
from meshtool.signers.spiffe import DEFAULT_TRUST_DOMAIN
from meshtool.testing import processes
from meshtool.workload import folder

CLIENT_REQUESTS = 3


@dataclass(slots=True)
class Server:
    workload: manifests.Workload
    port: int
    creds: Path
    child: processes.Child


@dataclass(slots=True)
class ScenarioReport:
    """What one example namespace did: the checks that passed or failed, for the report."""

    namespace: str
    server_identity: str = ""
    echoed: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(ok for _, ok in self.checks)


def local_args(w: manifests.Workload, container: manifests.JSON, pod_dir: Path) -> list[str]:
    args = list(container.get("args") or [])
    return manifests.localize(args, manifests.mount_map(w, container, pod_dir))


def start_server(w: manifests.Workload, pod_dir: Path, logs: Path) -> Server:
    container = w.containers[0]
    port = processes.free_port()
    args = manifests.replace_flag(
        local_args(w, container, pod_dir), "--listen", f"127.0.0.1:{port}"
    )
    creds = Path(manifests.flag_value(args, "--server-creds") or "")
    if credential_folder := manifests.flag_value(args, "--credential-folder"):
        creds = Path(credential_folder) / folder.CREDENTIAL_BUNDLE
    command = [sys.executable, "-m", "meshtool", *args]
    child = processes.Child(
        f"{w.namespace}-server", command, logs / f"{w.namespace}-{w.deployment}.log"
    )
    return Server(w, port, creds, child)


def connect_to(
    args: list[str], services: list[manifests.ServicePort], servers: list[Server]
) -> list[str]:
    url = manifests.flag_value(args, "--fetch-url") or ""
    host_port = url.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    service_port = int(port or 443)
    for svc in (s for s in services if s.port == service_port):
        for server in servers:
            w = server.workload
            if w.namespace != svc.namespace or host not in svc.hosts(w):
                continue
            if manifests.selects(svc.selector, w.labels):
                return ["--connect-to", f"{host}:{service_port}:127.0.0.1:{server.port}"]
    raise RuntimeError(f"no local server behind {url}")


async def run_client(
    w: manifests.Workload, pod_dir: Path, extra: list[str], count: int = CLIENT_REQUESTS
) -> tuple[int, str]:
    args = local_args(w, w.containers[0], pod_dir)
    args = manifests.drop_flag(args, "--count")
    args = manifests.drop_flag(args, "--interval")
    command = [
        sys.executable,
        "-m",
        "meshtool",
        *args,
        *extra,
        "--count",
        str(count),
        "--interval",
        "0.3",
    ]
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(errors="replace")


def expected_client_id(
    w: manifests.Workload, trust_domain: str = DEFAULT_TRUST_DOMAIN
) -> str | None:
    """The identity the server echoes for a client whose pod asks the spiffe signer (its SPIFFE
    ID) or the pod-identity signer (its SPIFFE ID, pod and node) for a certificate."""
    spec = w.pod["spec"]
    spiffe_id = (
        f"spiffe://{trust_domain}/ns/{w.namespace}/sa/{spec.get('serviceAccountName', 'default')}"
    )
    for volume in spec.get("volumes") or []:
        for source in (volume.get("projected") or {}).get("sources") or []:
            signer = (source.get("podCertificate") or {}).get("signerName", "")
            if signer.endswith("/spiffe"):
                return spiffe_id
            if signer.endswith("/pod-identity"):
                return f"{spiffe_id}; pod {w.namespace}/{w.pod_name} on node {spec['nodeName']}"
    return None


async def check_namespace(
    namespace: str,
    servers: list[Server],
    clients: list[manifests.Workload],
    services: list[manifests.ServicePort],
    pod_dir_of: Callable[[manifests.Workload], Path],
) -> ScenarioReport:
    report = ScenarioReport(namespace)
    for server in servers:
        await tls.wait_listening(server.port)
        report.server_identity = tls.describe(tls.leaf_of(server.creds))
    for client in clients:
        extra = connect_to(
            local_args(client, client.containers[0], pod_dir_of(client)), services, servers
        )
        code, output = await run_client(client, pod_dir_of(client), extra)
        report.checks.append(
            (f"{client.deployment}: {CLIENT_REQUESTS} requests succeeded", code == 0)
        )
        echoed = [
            line.split("Client Identity:", 1)[1].strip()
            for line in output.splitlines()
            if "Client Identity:" in line
        ]
        report.echoed += sorted(set(echoed))
        want = expected_client_id(client)
        if want is not None:
            report.checks.append((f"server echoed {want}", want in echoed))
        if code != 0:
            report.checks.append(("client output:\n" + output[-1500:], False))
    return report
