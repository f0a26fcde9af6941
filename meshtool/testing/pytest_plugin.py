"""pytest plugin: real control planes per Kubernetes version.

Not registered as an entry point: a test suite loads it explicitly, with
`pytest_plugins = ["meshtool.testing.pytest_plugin"]` in its root conftest.py (as ours does).
This is the only module of `meshtool.testing` that imports pytest or pytest-asyncio.

Fixtures:
- `k8s_version`: the Kubernetes minor under test. Tests marked `all_versions` run once per
  version in `$MESHTOOL_K8S_VERSIONS` (default "1.37,1.35"); others use the first one;
- `control_plane`: the session's `ControlPlane` for that version, started on first use;
- `kube`: an admin `KubeClient`, closed after the test;
- `namespace`: a fresh namespace per test (deleted afterwards but never waited on: without a
  namespace controller it stays Terminating);
- `kubectl`: runs the real kubectl against the control plane (`meshtool.testing.kubectl`).

`running_fault_proxy` starts a toxiproxy (`meshtool.testing.faultproxy`) under the same rule.

When the binaries cannot be had because Go is missing, the tests skip, except with `CI=true`,
where every failure to build or start is an error. At session end all control planes stop
and the session fails if `ps` still shows a process from one of their process groups.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.testing import fuzzing, processes
from meshtool.testing.binaries import BinariesUnavailable
from meshtool.testing.controlplane import ControlPlane
from meshtool.testing.faultproxy import FaultProxy
from meshtool.testing.kubectl import Kubectl

ENV_VERSIONS = "MESHTOOL_K8S_VERSIONS"
DEFAULT_VERSIONS = "1.37,1.35"
SKIP_HINT = (
    "integration tests need Go 1.26 to build kube-apiserver; run `make k8s-binaries` "
    "(or set KUBEBUILDER_ASSETS / MESHTOOL_USE_EXISTING_CLUSTER)"
)
_PLANES = pytest.StashKey["_Planes"]()


def k8s_versions() -> list[str]:
    raw = os.environ.get(ENV_VERSIONS) or DEFAULT_VERSIONS
    return [v for v in raw.replace(",", " ").split() if v]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@contextlib.contextmanager
def running_fault_proxy(upstream: str, workdir: Path) -> Iterator[FaultProxy]:
    """A started toxiproxy in front of `upstream`, stopped on exit; skips without Go (raises
    in CI, like the control planes)."""
    proxy = FaultProxy(upstream, workdir)
    try:
        proxy.start()
    except BinariesUnavailable as exc:
        if in_ci():
            raise
        pytest.skip(f"the fault proxy needs Go to build toxiproxy: {exc}")
    try:
        yield proxy
    finally:
        proxy.stop()


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on its own loop in a worker thread: session-scoped control planes
    outlive every test's event loop, and must not disturb the one pytest-asyncio set up."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="meshtool-k8s") as pool:
        pool.submit(asyncio.run, coro).result()


class _Planes:
    """The session's control planes, started lazily; a failed start is remembered, not retried."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self.started: dict[str, ControlPlane] = {}
        self._failed: dict[str, BaseException] = {}

    def get(self, version: str) -> ControlPlane:
        if version in self._failed:
            raise self._failed[version]
        if version not in self.started:
            plane = ControlPlane(version, self._root / f"k8s-{version}")
            try:
                _run(plane.start())
            except BinariesUnavailable as exc:
                self._failed[version] = (
                    exc
                    if in_ci()
                    else pytest.skip.Exception(f"{SKIP_HINT}: {exc}", _use_item_location=True)
                )
                raise self._failed[version] from exc
            except Exception as exc:
                self._failed[version] = exc
                raise
            self.started[version] = plane
        return self.started[version]

    def close(self) -> None:
        for plane in self.started.values():
            _run(plane.stop())
        left = processes.leftovers()
        assert not left, "processes left running after the control planes stopped:\n" + "\n".join(
            left
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "all_versions: run once per MESHTOOL_K8S_VERSIONS entry")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "k8s_version" not in metafunc.fixturenames:
        return
    versions = k8s_versions()
    if metafunc.definition.get_closest_marker("all_versions") is None:
        versions = versions[:1]
    metafunc.parametrize(
        "k8s_version", versions, ids=[f"k8s{v}" for v in versions], scope="session"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for stats in fuzzing.RESULTS:
        terminalreporter.write_line(f"fuzz: {stats.line()}")
    if fuzzing.RESULTS:
        total = sum(s.total_seconds for s in fuzzing.RESULTS)
        inputs = sum(s.count for s in fuzzing.RESULTS)
        terminalreporter.write_line(
            f"fuzz: {len(fuzzing.RESULTS)} targets, {inputs} inputs in {total:.1f}s"
        )
    planes = terminalreporter.config.stash.get(_PLANES, None)
    for version, plane in (planes.started if planes else {}).items():
        terminalreporter.write_line(
            f"meshtool: Kubernetes {version} ({plane.server_version}) control plane "
            f"started in {plane.start_seconds:.1f}s"
        )


@pytest.fixture(scope="session")
def meshtool_control_planes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Planes]:
    planes = _Planes(tmp_path_factory.mktemp("control-planes"))
    request.config.stash[_PLANES] = planes
    yield planes
    planes.close()


@pytest.fixture(scope="session")
def k8s_version() -> str:
    return k8s_versions()[0]


@pytest.fixture
def control_plane(k8s_version: str, meshtool_control_planes: _Planes) -> ControlPlane:
    return meshtool_control_planes.get(k8s_version)


@pytest_asyncio.fixture
async def kube(control_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    async with control_plane.client() as client:
        yield client


@pytest_asyncio.fixture
async def namespace(kube: KubeClient) -> AsyncIterator[str]:
    name = f"t-{secrets.token_hex(4)}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    await kube.create(resources.NAMESPACES, body)
    yield name
    with contextlib.suppress(errors.KubeError):  # best effort: it only goes Terminating
        await kube.delete(resources.NAMESPACES, name)


@pytest.fixture
def kubectl(control_plane: ControlPlane) -> Kubectl:
    return Kubectl.of(control_plane)
