"""Real-node tests: a real kubelet, containerd and runc on this machine (`make node-test`).

They need root, the binaries of hack/k8s-binaries.sh and hack/node-binaries.sh, the images of
hack/node-images.sh, and the machine-wide resources of one local cluster, so the default
`make test` does not collect them: they are collected only with MESHTOOL_NODE_TEST=1.
"""

from __future__ import annotations

import os

import pytest

if os.environ.get("MESHTOOL_NODE_TEST") != "1":
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "node: needs a real one-node cluster on this machine (make node-test)"
    )
