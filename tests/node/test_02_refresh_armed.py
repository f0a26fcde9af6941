"""Arms the refresh test (test_07): a tiny refresh fraction, and fresh spiffe-mtls pods under it.

The later tests run while the kubelet's refresh time approaches, so the wait costs little.
"""

from __future__ import annotations

import datetime as dt

import pytest

from .conftest import SPIFFE_FOLDER, RefreshWatch
from .nodekit import report

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]


def test_a_tiny_refresh_fraction_gives_the_earliest_legal_refresh(
    refresh_watch: RefreshWatch,
) -> None:
    from meshtool.pki import pem

    from .nodekit import volume_dir

    bundle = volume_dir(refresh_watch.pod, SPIFFE_FOLDER) / "credential-bundle.pem"
    leaf = pem.credential(bundle.read_bytes()).chain[0]
    begin = dt.datetime.fromisoformat(refresh_watch.begin_refresh_at.replace("Z", "+00:00"))
    assert begin - leaf.not_valid_before_utc == dt.timedelta(minutes=10)
    report(
        "refresh armed",
        f"server pod {refresh_watch.pod['metadata']['name']} serial {refresh_watch.serial} "
        f"notBefore {leaf.not_valid_before_utc.isoformat()} beginRefreshAt {begin.isoformat()}",
    )
