"""Does the cluster agree with who a request says it is? The one identity check.

A PodCertificateRequest names a pod, its service account and its node, each with a UID. The
API server (NodeRestriction) checked them when the kubelet created it; we check them again
against our caches before signing, because a pod may have been deleted and recreated under the
same name since. `mismatch` says what disagrees, or None: the pod, service account and node
must exist with the named UIDs, and the pod must run as that service account on that node.

It is pure and knows nothing of time: a disagreement may be cache lag, so the controller
retries it briefly and denies (`IdentityMismatch`) only when it outlives a grace period. Once
it has passed, signers may rely on the pod of the request being the one in the view.
"""

from __future__ import annotations

from collections.abc import Mapping

from meshtool.api import types
from meshtool.signers.base import ClusterView


def mismatch(request: types.PodCertRequest, view: ClusterView) -> str | None:
    """Why the request's pod, service account or node disagrees with `view`, if it does."""
    pod = view.pod(request.namespace, request.pod_name)
    problem = _uid_problem(request, view, pod)
    if problem is not None or pod is None:
        return problem
    where = f"pod {request.namespace}/{request.pod_name}"
    if pod.service_account_name != request.service_account_name:
        return f"{where} runs as {pod.service_account_name}"
    if pod.node_name != request.node_name:
        return f"{where} is bound to node {pod.node_name!r}"
    return None


def _uid_problem(
    request: types.PodCertRequest, view: ClusterView, pod: types.PodView | None
) -> str | None:
    sa = view.service_account(request.namespace, request.service_account_name)
    node = view.node(request.node_name)
    checks: Mapping[str, tuple[str | None, str]] = {
        f"pod {request.namespace}/{request.pod_name}": (_uid(pod), request.pod_uid),
        f"service account {request.namespace}/{request.service_account_name}": (
            _uid(sa),
            request.service_account_uid,
        ),
        f"node {request.node_name}": (_uid(node), request.node_uid),
    }
    for what, (have, want) in checks.items():
        if have is None:
            return f"{what} does not exist"
        if have != want:
            return f"{what} has UID {have}, the request names UID {want}"
    return None


def _uid(view: types.PodView | types.ServiceAccountView | types.NodeView | None) -> str | None:
    return view.uid if view is not None else None
