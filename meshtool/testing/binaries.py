"""Finding (and if need be building) kube-apiserver, etcd and kubectl for a Kubernetes minor.

Lookup order, like envtest:
1. `$KUBEBUILDER_ASSETS`: a folder that already holds the three binaries (any version: the
   caller is trusted to point at the right one);
2. the build cache `${XDG_CACHE_HOME:-~/.cache}/meshtool/k8s/<full version>/`, complete when
   its `stamp` file and all binaries exist;
3. otherwise `hack/k8s-binaries.sh <minor>` builds them from the Go module proxy (minutes on a
   cold cache). The repo root is `$MESHTOOL_REPO_ROOT` or found relative to this package.

helm (for the chart tests) is found the same way: `$MESHTOOL_HELM`, else
`${XDG_CACHE_HOME:-~/.cache}/meshtool/helm/<version>/helm` with its `stamp`, else built by
`hack/helm-binary.sh`.
`toxiproxy()` finds toxiproxy-server (the fault suite's TCP fault proxy) the same way: in
`.../meshtool/toxiproxy/<version>/`, else built by `hack/toxiproxy.sh`; `spiffebundle_check()`
finds the go-spiffe bundle reader (tools/spiffebundle-v2.9) in
`.../meshtool/spiffebundle-check/<version>/`, else built by `hack/spiffebundle-check.sh`.

`BinariesUnavailable` means "cannot even try" (no Go, no build script); callers may skip on it
outside CI. `BuildFailed` means the build ran and failed, which is always an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

FULL_VERSIONS = {"1.34": "v1.34.4", "1.35": "v1.35.4", "1.36": "v1.36.3", "1.37": "v1.37.2"}
BINARIES = ("kube-apiserver", "etcd", "kubectl")
BUILD_SCRIPT = "hack/k8s-binaries.sh"
HELM_VERSION = "v3.22.0"
HELM_SCRIPT = "hack/helm-binary.sh"
TOXIPROXY_VERSION = "v2.5.0"
TOXIPROXY_SCRIPT = "hack/toxiproxy.sh"
GO_SPIFFE_VERSION = "v2.9.0"
SPIFFEBUNDLE_SCRIPT = "hack/spiffebundle-check.sh"


class BinariesUnavailable(RuntimeError):
    pass


class BuildFailed(RuntimeError):
    pass


def full_version(minor: str) -> str:
    try:
        return FULL_VERSIONS[minor]
    except KeyError:
        known = ", ".join(FULL_VERSIONS)
        raise BinariesUnavailable(
            f"unknown Kubernetes version {minor!r} (known: {known})"
        ) from None


def cache_dir(minor: str) -> Path:
    return _cache_base() / "k8s" / full_version(minor)


def _cache_base() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "meshtool"


def locate_helm() -> Path:
    """The helm binary, built from the Go module proxy on first use."""
    configured = os.environ.get("MESHTOOL_HELM")
    if configured:
        if not Path(configured).is_file():
            raise BinariesUnavailable(f"MESHTOOL_HELM={configured} is not a file")
        return Path(configured)
    folder = _cache_base() / "helm" / HELM_VERSION
    if not ((folder / "stamp").is_file() and (folder / "helm").is_file()):
        _build_with(HELM_SCRIPT, [], f"helm {HELM_VERSION}")
    if not (folder / "helm").is_file():
        raise BuildFailed(f"{HELM_SCRIPT} succeeded but {folder}/helm is missing")
    return folder / "helm"


def toxiproxy() -> Path:
    """toxiproxy-server, from the cache or built by `hack/toxiproxy.sh`."""
    binary = _cache_base() / "toxiproxy" / TOXIPROXY_VERSION / "toxiproxy-server"
    if not (binary.parent / "stamp").is_file() or not binary.is_file():
        _build_with(TOXIPROXY_SCRIPT, [], f"toxiproxy {TOXIPROXY_VERSION}")
    if not binary.is_file():
        raise BuildFailed(f"{TOXIPROXY_SCRIPT} succeeded but {binary} is missing")
    return binary


def spiffebundle_check() -> Path:
    """spiffebundle-check (go-spiffe's bundle parser), from the cache or built by its script."""
    folder = _cache_base() / "spiffebundle-check" / GO_SPIFFE_VERSION
    binary = folder / "spiffebundle-check"
    if not (folder / "stamp").is_file() or not binary.is_file():
        _build_with(SPIFFEBUNDLE_SCRIPT, [], f"spiffebundle-check (go-spiffe {GO_SPIFFE_VERSION})")
    if not binary.is_file():
        raise BuildFailed(f"{SPIFFEBUNDLE_SCRIPT} succeeded but {binary} is missing")
    return binary


def is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in BINARIES)


def locate(minor: str, *, build: bool = True) -> Path:
    """The folder with kube-apiserver, etcd and kubectl for `minor` (e.g. "1.37")."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        if not is_complete(Path(assets)):
            raise BinariesUnavailable(f"KUBEBUILDER_ASSETS={assets} lacks one of {BINARIES}")
        return Path(assets)
    folder = cache_dir(minor)
    if (folder / "stamp").is_file() and is_complete(folder):
        return folder
    if not build:
        raise BinariesUnavailable(f"no binaries for {minor} in {folder}")
    _build(minor)
    if not is_complete(folder):
        raise BuildFailed(f"{BUILD_SCRIPT} {minor} succeeded but {folder} is incomplete")
    return folder


def repo_root() -> Path | None:
    candidates = [os.environ.get("MESHTOOL_REPO_ROOT"), Path(__file__).resolve().parents[2]]
    for candidate in candidates:
        if candidate and (Path(candidate) / BUILD_SCRIPT).is_file():
            return Path(candidate)
    return None


def _build(minor: str) -> None:
    _build_with(BUILD_SCRIPT, [minor], f"Kubernetes {minor}")


def _build_with(script: str, args: list[str], what: str) -> None:
    root = repo_root()
    if root is None or not (root / script).is_file():
        raise BinariesUnavailable(
            f"no binaries for {what} and no {script} to build them "
            "(set KUBEBUILDER_ASSETS or MESHTOOL_HELM, or MESHTOOL_REPO_ROOT to a checkout)"
        )
    if shutil.which("go") is None:
        raise BinariesUnavailable(f"no binaries for {what} and Go is not installed to build them")
    _stream([str(root / script), *args], what)


def _stream(command: list[str], what: str) -> None:
    """Run the build, echoing its progress lines to stderr as they come."""
    tail: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stderr.write(line)
            sys.stderr.flush()
            tail = [*tail[-39:], line]
    if proc.returncode != 0:
        output = "".join(tail)
        raise BuildFailed(f"building {what} failed ({proc.returncode}):\n{output}")
