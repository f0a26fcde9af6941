"""containerd with runc and the CNI bridge, and the images it serves to the kubelet.

Concept: containerd's root, state and socket live under DIR/containerd; CRI uses runc with
cgroupfs, `restrict_oom_score_adj` (no CAP_SYS_RESOURCE here), network namespaces under its
state dir and the pinned sandbox image `localhost/pause:1`; the CNI config is one `bridge`
(`cni0`, host-local POD_CIDR, no masquerading to the outside, hairpin) with its IPAM data under
DIR. Invariant: the images from `hack/node-images.sh` (docker-archives) are imported into the
`k8s.io` namespace before the kubelet starts, so no pod ever pulls (`imagePullPolicy` Never or
IfNotPresent works without a registry).
"""

from __future__ import annotations

import json
import os
import time

from meshtool.testing.node.paths import BRIDGE, IMAGES, PAUSE_IMAGE, POD_CIDR, log, run
from meshtool.testing.node.procs import Processes


def start_containerd(c: Processes) -> None:
    d = c.p.containerd
    d.mkdir(parents=True, exist_ok=True)
    c.p.cni_conf.mkdir(parents=True, exist_ok=True)
    (c.p.cni_conf / "10-meshtool.conflist").write_text(
        json.dumps(
            {
                "cniVersion": "1.0.0",
                "name": "meshtool",
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": BRIDGE,
                        "isGateway": True,
                        "ipMasq": False,
                        "hairpinMode": True,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{"subnet": POD_CIDR}]],
                            "routes": [{"dst": "0.0.0.0/0"}],
                            "dataDir": str(c.p.root / "cni" / "ipam"),
                        },
                    }
                ],
            },
            indent=2,
        )
    )
    config = f"""version = 3
root = '{d / "root"}'
state = '{d / "state"}'
[grpc]
  address = '{c.p.sock}'
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
sandbox = '{PAUSE_IMAGE}'
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
default_runtime_name = 'runc'
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
    BinaryName = '{c.p.bin("runc")}'
    SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
bin_dirs = ['{c.p.node / "cni"}']
conf_dir = '{c.p.cni_conf}'
[plugins.'io.containerd.nri.v1.nri']
  disable = true
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
"""
    (d / "config.toml").write_text(config)
    path = f"{c.p.node / 'containerd'}:{c.p.node / 'runc'}:{os.environ.get('PATH', '')}"
    c.spawn(
        "containerd",
        [c.p.bin("containerd"), f"--config={d / 'config.toml'}"],
        env={"PATH": path},
    )
    c.wait("containerd", "containerd serving", lambda: ctr(c, "version") is not None)
    for image in IMAGES:
        start = time.monotonic()
        ctr(c, "images", "import", str(c.p.images / f"{image}.tar"))
        log(f"imported {image} in {time.monotonic() - start:.1f}s")


def ctr(c: Processes, *args: str) -> str:
    return run([c.p.bin("ctr"), f"--address={c.p.sock}", "-n", "k8s.io", *args])
