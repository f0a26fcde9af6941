"""The one module that speaks HTTP to kube-apiserver.

CONTRACT (being implemented): method signatures below are fixed; bodies are filled in by the
kube work item. Objects are plain JSON dicts (no generated models: they reject legacy v1beta1
PodCertificateRequests). Errors are `meshtool.kube.errors` types.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from meshtool.kube.resources import Resource

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[JSON]
    resource_version: str


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str
    """ADDED, MODIFIED, DELETED or BOOKMARK (ERROR events are raised, 410 as errors.Gone)."""
    object: JSON


class KubeClient:
    @classmethod
    def from_kubeconfig(
        cls,
        path: str | None = None,
        *,
        context: str | None = None,
        qps: float = 50.0,
        burst: int = 100,
    ) -> KubeClient:
        raise NotImplementedError

    @classmethod
    def in_cluster(cls, *, qps: float = 50.0, burst: int = 100) -> KubeClient:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    async def get(self, resource: Resource, name: str, *, namespace: str | None = None) -> JSON:
        raise NotImplementedError

    async def list(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
    ) -> ListResult:
        raise NotImplementedError

    def watch(
        self,
        resource: Resource,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[WatchEvent]:
        raise NotImplementedError

    async def create(self, resource: Resource, body: JSON, *, namespace: str | None = None) -> JSON:
        raise NotImplementedError

    async def replace(
        self,
        resource: Resource,
        name: str,
        body: JSON,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> JSON:
        raise NotImplementedError

    async def patch(
        self,
        resource: Resource,
        name: str,
        body: JSON | builtins.list[JSON],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        patch_type: str = "merge",
    ) -> JSON:
        raise NotImplementedError

    async def delete(
        self,
        resource: Resource,
        name: str,
        *,
        namespace: str | None = None,
        uid: str | None = None,
    ) -> None:
        raise NotImplementedError

    async def served_resources(self, group_version: str) -> set[str] | None:
        raise NotImplementedError

    async def healthy(self) -> bool:
        raise NotImplementedError
