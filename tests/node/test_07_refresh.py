"""Refresh by the real kubelet at beginRefreshAt (armed by test_02): the spiffe-mtls server's
certificate changes in place, the container is not restarted, and no client request fails."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from meshtool.api import wire

from .conftest import SPIFFE_FOLDER, RefreshWatch, client_log
from .nodekit import Kubectl, leaf_serial, report, volume_dir, wait_for

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

# The kubelet refreshes at beginRefreshAt plus a random 0-5 min; then a volume sync writes it.
JITTER = dt.timedelta(minutes=5)
MARGIN = dt.timedelta(minutes=2)


def test_the_kubelet_refreshes_at_begin_refresh_at(
    quickstart: Kubectl, refresh_watch: RefreshWatch
) -> None:
    bundle = volume_dir(refresh_watch.pod, SPIFFE_FOLDER) / "credential-bundle.pem"
    deadline = wire.parse_time(refresh_watch.begin_refresh_at) + JITTER + MARGIN
    left = (deadline - dt.datetime.now(dt.UTC)).total_seconds()
    wait_for("a new server certificate", lambda: leaf_serial(bundle) != refresh_watch.serial, left)
    changed = time.strftime("%H:%M:%S", time.gmtime())
    time.sleep(25)  # two client requests against the new certificate
    name = refresh_watch.pod["metadata"]["name"]
    pod = quickstart.json("-n", "spiffe-mtls", "get", "pod", name)
    restarts = pod["status"]["containerStatuses"][0]["restartCount"]
    assert pod["metadata"]["uid"] == refresh_watch.pod["metadata"]["uid"] and restarts == 0
    lines = [
        line for line in client_log(quickstart, refresh_watch.since).splitlines() if "GET " in line
    ]
    failed = [line for line in lines if ": 200 " not in line]
    assert lines and not failed, failed
    server_log = quickstart("-n", "spiffe-mtls", "logs", name)
    reloads = [line for line in server_log.splitlines() if "leaf serial" in line]
    report(
        "refresh",
        f"server pod {name}: serial before {refresh_watch.serial}, after {leaf_serial(bundle)} "
        f"(seen {changed}Z; beginRefreshAt {refresh_watch.begin_refresh_at}); restartCount "
        f"{restarts}; client requests since {refresh_watch.since}: {len(lines)}, failed: 0\n"
        + "\n".join(reloads),
    )
