"""Fixtures of the fault-injection suite: a control plane of its own, a fault proxy, a fleet.

The suite kills and restarts kube-apiserver and etcd, so it never touches the session's shared
control plane: `fault_plane` is its own, on the first of MESHTOOL_K8S_VERSIONS only (each case
is a burst of 2,000 PCRs; once per version would double the suite's minutes for no new
coverage, as the version matrix is the other suites' job). Its apiserver runs without a watch
cache, so a watch resumed after a restart is served from etcd's history and the recorder misses
no write, and with an audit log of PCR status and Lease writes. `fault_proxy` is toxiproxy in
front of that apiserver. The 2,000 pods (on 20 nodes) are made once per session; each case
makes 2,000 new PCRs for them and deletes them afterwards, so controllers start on a small list.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from meshtool.clock import SystemClock
from meshtool.kube import resources
from meshtool.pki import capool
from meshtool.testing import burst, nodeapi, pcrforms
from meshtool.testing.binaries import BinariesUnavailable
from meshtool.testing.controlplane import ControlPlane
from meshtool.testing.faultproxy import FaultProxy
from meshtool.testing.kubectl import Kubectl
from meshtool.testing.pytest_plugin import SKIP_HINT, in_ci, k8s_versions, running_fault_proxy

from .faultbed import BURST, CASE_LABEL, NAMESPACE, SIGNER, Bed, table

REPO = Path(__file__).resolve().parents[3]
NODES = 20
T = TypeVar("T")


def blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on its own loop in a thread (session fixtures outlive test loops)."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="faults") as pool:
        return pool.submit(asyncio.run, coro).result()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.faults)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if table():
        terminalreporter.write_line("\nfault suite (from the apiserver's side):\n" + table())


@pytest.fixture(scope="session")
def fault_plane(
    tmp_path_factory: pytest.TempPathFactory, meshtool_control_planes: object
) -> Iterator[ControlPlane]:
    # Depends on the plugin's registry so that it is torn down first: the registry's leftover
    # check must not see this plane's processes, whatever order the tests ran in.
    version = k8s_versions()[0]
    workdir = tmp_path_factory.mktemp("fault-plane")
    plane = ControlPlane(version, workdir, apiserver_flags=["--watch-cache=false"], audit=True)
    try:
        blocking(plane.start())
    except BinariesUnavailable as exc:
        blocking(plane.stop())
        if in_ci():
            raise
        pytest.skip(f"{SKIP_HINT}: {exc}")
    try:
        Kubectl.of(plane)("apply", "-k", str(REPO / "controller-manifests"))
        yield plane
    finally:
        blocking(plane.stop())


@pytest.fixture(scope="session")
def fault_proxy(
    fault_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FaultProxy]:
    upstream = fault_plane.server.removeprefix("https://")
    with running_fault_proxy(upstream, tmp_path_factory.mktemp("tp")) as proxy:
        yield proxy
        print(
            f"\nfault-suite: toxiproxy restarted {proxy.restarts} time(s) for a wedged control API"
        )


async def _make_pods(plane: ControlPlane) -> list[pcrforms.PodTarget]:
    async with plane.client(qps=None) as admin:
        fl = burst.Fleet(plane, admin, NODES, namespace=NAMESPACE, prefix="fault-node")
        try:
            await fl.prepare()
            return await fl.pods("pod", BURST, SIGNER)
        finally:
            await fl.aclose()


@pytest.fixture(scope="session")
def fault_targets(fault_plane: ControlPlane) -> list[pcrforms.PodTarget]:
    return blocking(_make_pods(fault_plane))


@pytest_asyncio.fixture
async def bed(
    fault_plane: ControlPlane,
    fault_proxy: FaultProxy,
    fault_targets: list[pcrforms.PodTarget],
    tmp_path: Path,
) -> AsyncIterator[Bed]:
    fault_proxy.reset()  # first: a failure here must leave no client open
    pool = tmp_path / "spiffe-pool.json"
    pool.write_bytes(capool.dump(capool.new_pool(ca_id="1", name=SIGNER, clock=SystemClock())))
    admin = fault_plane.client(qps=None)
    fl = burst.Fleet(fault_plane, admin, NODES, namespace=NAMESPACE, prefix="fault-node")
    await fl.prepare()
    version = (await nodeapi.served_versions(admin, "podcertificaterequests"))[0]
    form = pcrforms.default_form(version, await nodeapi.server_minor(admin))
    app = f"faults-{secrets.token_hex(2)}"
    the_bed = Bed(
        fault_plane, fault_proxy, admin, fl, fault_targets, pool, tmp_path, version, form, app
    )
    try:
        yield the_bed
    finally:
        the_bed.stop_all()
        for proc in the_bed.replicas:
            assert "PRIVATE KEY" not in proc.log(), f"key material in {proc.name}'s log"
        await _delete_case_pcrs(admin, version)
        await fl.aclose()
        await admin.aclose()


async def _delete_case_pcrs(admin: Any, version: str) -> None:
    resource = resources.pod_certificate_requests(version)
    await admin.delete_collection(resource, namespace=NAMESPACE, label_selector=CASE_LABEL)
