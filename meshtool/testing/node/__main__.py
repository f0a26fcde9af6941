"""`python -m meshtool.testing.node up|down|status|restart-kubelet`: see `.cluster`."""

from __future__ import annotations

import sys

from meshtool.testing.node import cluster

sys.exit(cluster.main(sys.argv[1:]))
