"""Integration tests run against a real kube-apiserver + etcd (see meshtool.testing)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio

from meshtool.kube.client import KubeClient
from meshtool.testing import nodeapi, pcrforms

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


@pytest_asyncio.fixture
async def pcr_version(kube: KubeClient) -> str:
    """The newest certificates.k8s.io version serving PodCertificateRequests here."""
    return (await nodeapi.served_versions(kube, "podcertificaterequests"))[0]


@pytest_asyncio.fixture
async def ctb_version(kube: KubeClient) -> str:
    """The newest certificates.k8s.io version serving ClusterTrustBundles here."""
    return (await nodeapi.served_versions(kube, "clustertrustbundles"))[0]


@pytest_asyncio.fixture
async def pcr_form(kube: KubeClient, pcr_version: str) -> pcrforms.KeyForm:
    """The key form a kubelet of this release writes (pkixPublicKey on 1.34/1.35)."""
    return pcrforms.default_form(pcr_version, await nodeapi.server_minor(kube))
