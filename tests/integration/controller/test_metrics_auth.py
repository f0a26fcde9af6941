"""With --metrics-auth=kubernetes, /metrics takes ServiceAccount bearer tokens the real
apiserver reviews: a token bound to meshtool-metrics-reader gets the metrics (200), another
ServiceAccount's token is forbidden (403), no token or a garbage one is unauthenticated (401);
the probes stay open."""

from __future__ import annotations

import pytest

from meshtool.kube import resources
from meshtool.testing import fleet, rbac

from . import test_permissions

pytestmark = pytest.mark.all_versions
metrics_auth_rbac = test_permissions.metrics_auth_rbac  # the fixture: optional RBAC, removed after


def reader_binding(namespace: str, name: str) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{namespace}-{name}-metrics"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "meshtool-metrics-reader",
        },
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }


@pytest.fixture
async def tokens(kube, namespace):
    """Bearer tokens of a scraper bound to meshtool-metrics-reader, and of an unbound SA."""
    await fleet.create_namespace(kube, namespace, ["scraper", "nosy"])
    crbs = resources.Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", False)
    binding = await kube.create(crbs, reader_binding(namespace, "scraper"))
    yield {sa: await rbac.service_account_token(kube, namespace, sa) for sa in ("scraper", "nosy")}
    await fleet.delete_quietly(kube, crbs, binding["metadata"]["name"])


async def test_metrics_need_an_authorized_token(start_controller, metrics_auth_rbac, tokens):
    controller = await start_controller("--metrics-auth", "kubernetes", signers=("spiffe",))

    def get(token: str | None, path: str = "/metrics") -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return controller.get(path, headers)

    code, body = get(tokens["scraper"])
    assert code == 200 and "meshtool_issued_total" in body
    assert get(tokens["nosy"])[0] == 403
    assert get(None)[0] == 401
    assert get("not-a-token")[0] == 401
    assert get(tokens["scraper"][:-4] + "AAAA")[0] == 401  # a forged signature
    assert get(None, "/healthz")[0] == 200 and get(None, "/readyz")[0] == 200
    assert controller.metrics() == {}  # the harness's own unauthenticated scrape is refused
    for token in tokens.values():
        assert token not in controller.log()
