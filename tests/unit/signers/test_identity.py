"""The one identity check: pod, service account and node must be the ones the request names."""

from __future__ import annotations

from meshtool.api.types import NodeView, PodView, ServiceAccountView
from meshtool.signers import identity

from . import requests
from .conftest import FakeView

T = requests.request(signer_name="row-major.net/spiffe")


def view(
    *, pod_uid: str | None = None, sa: str | None = None, node: str | None = None, **pod_fields
):
    fields = dict(service_account_name=T.service_account_name, node_name=T.node_name)
    fields.update(pod_fields)
    pod = PodView(T.namespace, T.pod_name, pod_uid or T.pod_uid, {}, **fields)
    return FakeView(
        [pod],
        [],
        service_accounts=[
            ServiceAccountView(T.namespace, T.service_account_name, sa or T.service_account_uid)
        ],
        nodes=[NodeView(T.node_name, node or T.node_uid)],
    )


def test_an_agreeing_cluster_is_no_mismatch() -> None:
    assert identity.mismatch(T, view()) is None


def test_a_recreated_pod_with_another_uid_is_a_mismatch() -> None:
    problem = identity.mismatch(T, view(pod_uid="another-uid"))
    assert problem == (
        f"pod {T.namespace}/{T.pod_name} has UID another-uid, the request names UID {T.pod_uid}"
    )


def test_each_object_is_checked() -> None:
    assert "service account" in (identity.mismatch(T, view(sa="sa-2")) or "")
    assert f"node {T.node_name} has UID n-2" in (identity.mismatch(T, view(node="n-2")) or "")
    assert "does not exist" in (identity.mismatch(T, FakeView()) or "")


def test_the_pod_must_run_as_the_service_account_on_the_node() -> None:
    assert "runs as other" in (identity.mismatch(T, view(service_account_name="other")) or "")
    assert "bound to node 'n9'" in (identity.mismatch(T, view(node_name="n9")) or "")
