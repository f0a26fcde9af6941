"""The cluster's host networking: the node's link, and undoing what kube-proxy and CNI add.

Concept: kube-apiserver and the kubelet bind NODE_IP on `mt-node0`, one end of a veth pair (this
kernel has no dummy driver); the CNI bridge plugin creates `cni0`. Both are recorded in the
state's `links` before they exist, so `down()` deletes them even after a failed `up()`.
Invariants: cleanup removes only KUBE-/CNI- iptables rules and the nf_tables tables that did not
exist before `up()` (plus kube-proxy's own), so other users' rules survive; sysctls are read
and restored as strings under /proc/sys.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from meshtool.testing.node.paths import BRIDGE, DUMMY, NODE_IP, Paths, run

if TYPE_CHECKING:
    from meshtool.testing.node.procs import Processes


def add_links(c: Processes) -> None:
    # A veth pair, not a dummy link: this kernel has no dummy driver, and veth is what the
    # CNI bridge needs anyway. Deleting one end deletes both.
    run(["ip", "link", "add", DUMMY, "type", "veth", "peer", "name", f"{DUMMY}p"])
    c.state["links"].append(DUMMY)
    c.state["links"].append(BRIDGE)  # the bridge plugin creates it; down() removes it
    c.save()
    run(["ip", "addr", "add", f"{NODE_IP}/32", "dev", DUMMY])
    run(["ip", "link", "set", f"{DUMMY}p", "up"])
    run(["ip", "link", "set", DUMMY, "up"])


def nft_tables() -> list[str]:
    if shutil.which("nft") is None:
        return []
    return run(["nft", "list", "tables"], check=False, quiet=True).splitlines()


def clean_iptables(p: Paths, tables_before: list[str] | None) -> None:
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
    for table in nft_tables():
        ours = table.endswith((" kube-proxy", " kube-proxy-nat"))
        if ours or (tables_before is not None and table not in before):
            run(["nft", "delete", *table.split()], check=False)


def sysctl(key: str) -> str | None:
    try:
        return Path("/proc/sys", key).read_text().strip()
    except OSError:
        return None
