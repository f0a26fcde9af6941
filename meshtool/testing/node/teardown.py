"""`down()`: remove everything `up()` created; `host_snapshot()`: what that must restore.

Concept: teardown works from DIR/state.json (pids, created host paths, changed sysctls, links,
the nf_tables tables that existed before) so it runs from any process, and is safe to repeat
or run when nothing is up. Order: kubelet, containerd's tasks and containers, the other
components (SIGTERM, SIGKILL after 20 s), stray processes of the node binaries, the kubepods
cgroups' processes, mounts, cgroups, links, iptables/nft, sysctls, host paths, DIR (logs are
kept in DIR-last-logs). Invariant: it only ever kills a pid whose /proc/PID/exe is one of the
cluster's cached binaries, and never etcd or kube-apiserver by executable alone (other
worktrees' test harnesses run those same cached files): strays are looked for among the node
binaries (~/.cache/meshtool/node) only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meshtool.testing.node.hostnet import clean_iptables, nft_tables, sysctl
from meshtool.testing.node.paths import (
    BRIDGE,
    COMPONENTS,
    DUMMY,
    HOST_PATHS,
    SYSCTLS,
    Paths,
    alive,
    cluster_dir,
    exe,
    log,
    run,
)


def down(root: Path | None = None) -> None:
    """Remove everything `up()` created. Safe to repeat; works from the state file if present."""
    started = time.monotonic()
    p = Paths(root or cluster_dir())
    state: dict[str, Any] = {"pids": {}, "created": [], "sysctls": {}, "links": [DUMMY, BRIDGE]}
    if p.state.exists():
        state = json.loads(p.state.read_text())
    pids: dict[str, int] = state.get("pids", {})
    ours = binaries(p)

    stop(pids, "kubelet", ours)
    if p.sock.exists() and "containerd" in pids and alive(pids["containerd"]):
        _remove_containers(p)
    for name in COMPONENTS[1:]:
        stop(pids, name, ours)
    _kill_strays(_node_binaries(p))
    _kill_cgroups()
    _unmount([str(p.root), *HOST_PATHS])
    _remove_cgroups()
    for link in state.get("links", []):
        if Path(f"/sys/class/net/{link}").exists():
            run(["ip", "link", "del", link], check=False)
    clean_iptables(p, state.get("nft_tables"))
    for key, value in state.get("sysctls", {}).items():
        if sysctl(key) != value:
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


def binaries(p: Paths) -> set[str]:
    names = [*COMPONENTS, "containerd-shim-runc-v2", "runc"]
    return {str(p.bin(n).resolve()) for n in names}


def _node_binaries(p: Paths) -> set[str]:
    """The binaries only this cluster runs (~/.cache/meshtool/node). etcd and kube-apiserver are
    not among them: the test harness of every worktree runs those same cached files."""
    return {b for b in binaries(p) if Path(b).is_relative_to(p.node.resolve())}


def stop(pids: dict[str, int], name: str, ours: set[str], timeout: float = 20.0) -> None:
    pid = pids.get(name)
    if pid is None or not alive(pid) or exe(pid) not in ours:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(pid):
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
        if entry.name.isdigit() and exe(int(entry.name)) in ours:
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
        "nft_tables": sorted(nft_tables()),
        "kube_rules": [line for line in rules.splitlines() if "KUBE-" in line or "CNI-" in line],
        "kubepods": [str(c) for c in _kubepods()],
        "paths": [path for path in (*HOST_PATHS, str(p.root)) if os.path.lexists(path)],
        "sysctls": {k: sysctl(k) for k in SYSCTLS},
        "processes": sorted(
            exe(int(e.name))
            for e in Path("/proc").iterdir()
            if e.name.isdigit() and exe(int(e.name)) in ours
        ),
    }
