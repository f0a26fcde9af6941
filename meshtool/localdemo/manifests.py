"""Reading the example manifests the way the cluster would use them, for the local demo.

The local control plane has no controller-manager, scheduler or kubelet, so nothing turns a
Deployment into a running container. The demo does that part by hand, from the manifests
themselves: each Deployment's or StatefulSet's pod template becomes one Pod `<name>-0` bound to
the demo node (a StatefulSet's also gets `hostname` and `subdomain`, as the StatefulSet
controller would set them, so it has its per-pod name under its headless Service), and each
container becomes a local `meshtool` process run with the container's exact arguments, except
that volume mount paths map to the kubelet simulator's folders, listen addresses move to free
loopback ports, and clients get `--connect-to` so a `.svc` name (a Service's, or a pod's own
name under its headless Service) reaches that loopback port.
A folder with a `kustomization.yaml` (the controller's kustomize base) contributes the files
it lists as `resources`. Everything here is pure: it reads YAML and returns plans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

JSON = dict[str, Any]


def load_documents(folder: Path) -> list[JSON]:
    """The objects of a folder: a kustomize base's `resources` files, or every YAML file."""
    docs: list[JSON] = []
    for path in manifest_files(folder):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return docs


def manifest_files(folder: Path) -> list[Path]:
    kustomization = folder / "kustomization.yaml"
    if kustomization.is_file():
        listed = yaml.safe_load(kustomization.read_text()).get("resources") or []
        return [folder / name for name in listed]
    return sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))


@dataclass(frozen=True, slots=True)
class Workload:
    """One Deployment's (or StatefulSet's) pod, as the demo will create and run it."""

    namespace: str
    deployment: str
    pod: JSON
    containers: list[JSON]

    @property
    def pod_name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def labels(self) -> Mapping[str, str]:
        return self.pod["metadata"].get("labels") or {}


def workloads(docs: Iterable[JSON], *, node: str) -> list[Workload]:
    found = []
    for doc in docs:
        if doc.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        meta, template = doc["metadata"], doc["spec"]["template"]
        namespace = meta.get("namespace", "default")
        spec = {**template["spec"], "nodeName": node}
        if doc["kind"] == "StatefulSet":
            spec |= {"hostname": f"{meta['name']}-0", "subdomain": doc["spec"]["serviceName"]}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-0",
                "namespace": namespace,
                "labels": dict(template["metadata"].get("labels") or {}),
            },
            "spec": spec,
        }
        found.append(Workload(namespace, meta["name"], pod, list(template["spec"]["containers"])))
    return found


@dataclass(frozen=True, slots=True)
class ServicePort:
    namespace: str
    name: str
    port: int
    selector: Mapping[str, str]

    @property
    def host(self) -> str:
        return f"{self.name}.{self.namespace}.svc"

    def hosts(self, workload: Workload) -> set[str]:
        """The names by which this port reaches `workload`'s pod: the Service's, and the pod's
        own `<hostname>.<service>.<namespace>.svc` when its subdomain is this Service."""
        spec = workload.pod["spec"]
        own = spec.get("subdomain") == self.name and spec.get("hostname")
        return {self.host, f"{spec['hostname']}.{self.host}"} if own else {self.host}


def service_ports(docs: Iterable[JSON]) -> list[ServicePort]:
    ports = []
    for doc in docs:
        if doc.get("kind") != "Service":
            continue
        spec, meta = doc.get("spec") or {}, doc["metadata"]
        for port in spec.get("ports") or []:
            ports.append(
                ServicePort(
                    namespace=meta.get("namespace", "default"),
                    name=meta["name"],
                    port=int(port["port"]),
                    selector=spec.get("selector") or {},
                )
            )
    return ports


def mount_map(workload: Workload, container: JSON, volume_dir: Path) -> dict[str, Path]:
    """Container mount path -> local folder written by the kubelet simulator."""
    return {
        mount["mountPath"].rstrip("/"): volume_dir / mount["name"]
        for mount in container.get("volumeMounts") or []
    }


def localize(args: list[str], mounts: Mapping[str, Path]) -> list[str]:
    """Rewrite every argument (or `--flag=` value) that points into a volume mount to the local
    folder."""
    return [_localize_one(arg, mounts) for arg in args]


def _localize_one(arg: str, mounts: Mapping[str, Path]) -> str:
    flag, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
    for mount, local in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
        if value == mount or value.startswith(mount + "/"):
            return f"{flag}{eq}{local}{value[len(mount) :]}"
    return arg


def replace_flag(args: list[str], flag: str, value: str) -> list[str]:
    out, skip = [], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == flag and i + 1 < len(args):
            out += [flag, value]
            skip = True
        elif arg.startswith(flag + "="):
            out.append(f"{flag}={value}")
        else:
            out.append(arg)
    return out


def drop_flag(args: list[str], flag: str, *, takes_value: bool = True) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == flag:
            skip = takes_value
        elif not arg.startswith(flag + "="):
            out.append(arg)
    return out


def flag_value(args: list[str], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())
