"""Which Services select a pod, and the anchor that finds them without scanning a namespace.

A Service selects a pod when it uses a selector (type ClusterIP, NodePort or LoadBalancer; an
empty type means ClusterIP), the selector is non-empty, they share a namespace, and every
selector pair is among the pod's labels. ExternalName and selector-less Services select nothing.

The anchor of a selecting Service is the smallest (key, value) pair of its selector. A Service
that selects a pod has all its pairs among the pod's labels, so its anchor is one of them:
indexing Services by anchor, and looking up each of the pod's label pairs, finds every Service
that selects the pod, and only Services that share a pair with it. The lookup costs one probe
per pod label plus the candidates found, however many Services the namespace has.

An anchor key (`anchor_key`) is the index value: namespace, label key and value joined by NUL,
which none of them can contain, so distinct pairs never collide. The same keys name the
wake-ups of requests waiting for a Service (`meshtool.api.decisions.selector`): `wakes` says
which held requests one Service change may help, the only ones it re-decides.
"""

from __future__ import annotations

from collections.abc import Mapping

from meshtool.api import decisions, types

SELECTING_TYPES = frozenset({"", "ClusterIP", "NodePort", "LoadBalancer"})
_SEP = "\x00"


def selects(service: types.ServiceView, pod: types.PodView) -> bool:
    return service.namespace == pod.namespace and matches(service, pod.labels)


def matches(service: types.ServiceView, labels: Mapping[str, str]) -> bool:
    """Whether the Service's selector picks pods with these labels (namespace aside)."""
    selector = service.selector
    if service.type not in SELECTING_TYPES or not selector:
        return False
    return all(labels.get(key) == value for key, value in selector.items())


def anchor_key(namespace: str, key: str, value: str) -> str:
    return _SEP.join((namespace, key, value))


def service_anchors(service: types.ServiceView | None) -> list[str]:
    """The Service's anchor key (none for a Service that selects no pods): its index values."""
    if service is None or service.type not in SELECTING_TYPES or not service.selector:
        return []
    key, value = min(service.selector.items())
    return [anchor_key(service.namespace, key, value)]


def pod_anchors(pod: types.PodView) -> list[str]:
    """Every anchor key a Service selecting `pod` could have: one per label pair."""
    return [anchor_key(pod.namespace, key, value) for key, value in sorted(pod.labels.items())]


def wakes(
    key: str, old: types.ServiceView | None, new: types.ServiceView | None
) -> list[decisions.WakeOn]:
    """What a change of Service `key` (`ns/name`) wakes: requests held on it by name and on
    its anchor before or after the change."""
    namespace, _, name = key.partition("/")
    anchors = sorted({*service_anchors(old), *service_anchors(new)})
    return [decisions.service(namespace, name)] + [decisions.selector(anchor) for anchor in anchors]
