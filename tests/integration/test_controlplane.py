"""The test control plane: versions, served APIs, authn/authz, kubectl, start/stop hygiene."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from pathlib import Path

import pytest

from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.kube.resources import Resource
from meshtool.testing import processes
from meshtool.testing.controlplane import ControlPlane, StartFailed

CONFIGMAPS = Resource("", "v1", "configmaps", True)
CLUSTER_ROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", False)
CLUSTER_ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", False)
PCR_VERSION = {"1.34": "v1alpha1", "1.35": "v1beta1", "1.36": "v1beta1", "1.37": "v1"}
CTB_VERSION = {"1.34": "v1beta1", "1.35": "v1beta1", "1.36": "v1beta1", "1.37": "v1"}


async def eventually_allowed(client: KubeClient, namespace: str) -> None:
    """RBAC changes reach the authorizer through an informer: allow it a moment."""
    deadline = time.monotonic() + 10
    while True:
        try:
            await client.list(CONFIGMAPS, namespace=namespace)
            return
        except errors.Forbidden:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


@pytest.mark.all_versions
async def test_apiserver_is_up_with_the_expected_version(
    control_plane: ControlPlane, kube: KubeClient, k8s_version: str
) -> None:
    assert control_plane.server_version.startswith(f"v{k8s_version}.")
    assert await kube.healthy()
    version = await kube.get_path("/version")
    assert version["gitVersion"] == control_plane.server_version


@pytest.mark.all_versions
async def test_serves_pod_certificate_apis_of_its_release(
    control_plane: ControlPlane, kube: KubeClient, k8s_version: str
) -> None:
    pcr = await kube.served_resources(f"certificates.k8s.io/{PCR_VERSION[k8s_version]}")
    ctb = await kube.served_resources(f"certificates.k8s.io/{CTB_VERSION[k8s_version]}")
    assert pcr is not None and {"podcertificaterequests", "podcertificaterequests/status"} <= pcr
    assert ctb is not None and "clustertrustbundles" in ctb
    assert f"certificates.k8s.io/{PCR_VERSION[k8s_version]}" in control_plane.api_versions
    assert await kube.served_resources("nosuch.example.com/v1") is None


async def test_1_37_also_serves_v1beta1_for_skewed_kubelets(
    control_plane: ControlPlane, kube: KubeClient, k8s_version: str
) -> None:
    if k8s_version != "1.37":
        pytest.skip("only 1.37 has both v1 and v1beta1")
    served = await kube.served_resources("certificates.k8s.io/v1beta1")
    assert served is not None and "podcertificaterequests" in served


async def test_user_is_forbidden_until_bound(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    user = f"tester-{secrets.token_hex(3)}"
    async with control_plane.client(control_plane.user(user, ["testers"])) as client:
        with pytest.raises(errors.Forbidden) as forbidden:
            await client.list(CONFIGMAPS, namespace=namespace)
        assert forbidden.value.code == 403
        assert "GET /api/v1/namespaces/" in str(forbidden.value)
        # Not the built-in "view": it is aggregated by kube-controller-manager, which we lack.
        await kube.create(CLUSTER_ROLES, _configmap_reader(user))
        await kube.create(CLUSTER_ROLE_BINDINGS, _binding(user, f"{user}-reader"))
        await eventually_allowed(client, namespace)


async def test_node_identity_creates_only_its_own_node(control_plane: ControlPlane) -> None:
    node = f"node-{secrets.token_hex(3)}"
    kubeconfig = control_plane.user(f"system:node:{node}", ["system:nodes"])
    async with control_plane.client(kubeconfig) as client:
        created = await client.create(resources.NODES, _node(node))
        assert created["metadata"]["name"] == node
        with pytest.raises(errors.Forbidden):
            await client.create(resources.NODES, _node(f"{node}-other"))


async def test_kubectl_talks_to_the_control_plane(kubectl, namespace: str) -> None:
    kubectl("create", "configmap", "from-kubectl", "-n", namespace, "--from-literal=a=b")
    out = kubectl("get", "configmap", "from-kubectl", "-n", namespace, "-o", "jsonpath={.data.a}")
    assert out.stdout == "b"
    failed = kubectl("get", "configmap", "missing", "-n", namespace, check=False)
    assert failed.returncode != 0 and "NotFound" in failed.stderr


async def test_stop_reaps_every_process(k8s_version: str, tmp_path: Path) -> None:
    async with ControlPlane(k8s_version, tmp_path) as plane:
        pids = plane.pids
        assert len(pids) == 2
    alive = [line for line in processes.leftovers() if int(line.split()[0]) in pids]
    assert alive == []


async def test_two_control_planes_run_side_by_side(k8s_version: str, tmp_path: Path) -> None:
    """Started at once (as the two-cluster federation test does): distinct ports, data and PKI;
    each cluster's objects stay its own; both stop cleanly."""
    planes = [ControlPlane(k8s_version, tmp_path / name) for name in ("east", "west")]
    async with contextlib.AsyncExitStack() as stack:
        await asyncio.gather(*(stack.enter_async_context(p) for p in planes))
        east, west = planes
        assert east.server != west.server and east.etcd_url != west.etcd_url
        async with east.client() as a, west.client() as b:
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "only-east"}}
            await a.create(resources.NAMESPACES, body)
            with pytest.raises(errors.NotFound):
                await b.get(resources.NAMESPACES, "only-east")
        pids = east.pids + west.pids
        assert len(set(pids)) == 4
    alive = [line for line in processes.leftovers() if int(line.split()[0]) in pids]
    assert alive == []


async def test_failed_start_reports_the_log_tail(k8s_version: str, tmp_path: Path) -> None:
    plane = ControlPlane(k8s_version, tmp_path, apiserver_flags=["--no-such-flag=1"])
    with pytest.raises(StartFailed, match=r"kube-apiserver .* exited") as failed:
        await plane.start()
    assert "no-such-flag" in str(failed.value)
    assert plane.pids == []
    assert (tmp_path / "kube-apiserver.log").is_file()


def test_user_needs_a_control_plane_we_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHTOOL_USE_EXISTING_CLUSTER", "/nonexistent/kubeconfig")
    with pytest.raises(RuntimeError, match="MESHTOOL_USE_EXISTING_CLUSTER"):
        ControlPlane().user("someone")


def _binding(user: str, role: str) -> dict[str, object]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{user}-{role}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def _configmap_reader(user: str) -> dict[str, object]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": f"{user}-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
    }


def _node(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}


async def test_apiserver_restart_keeps_address_pki_and_data(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    body = {"metadata": {"name": "survivor"}, "data": {"k": "v"}}
    await kube.create(CONFIGMAPS, body, namespace=namespace)
    old_pid, server = control_plane.pids[-1], control_plane.server
    await control_plane.restart_apiserver()
    assert control_plane.pids[-1] != old_pid and control_plane.server == server
    got = await kube.get(CONFIGMAPS, "survivor", namespace=namespace)  # same client reconnects
    assert got["data"] == {"k": "v"}
