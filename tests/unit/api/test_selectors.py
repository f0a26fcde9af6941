"""Selector semantics, anchors, and the view fields the per-pod names need."""

from __future__ import annotations

import pytest

from meshtool.api import objects, selectors
from meshtool.api.types import PodView, ServiceView

POD = PodView("ns", "p", "uid", {"app": "web", "tier": "front"}, "sa", "node")


def svc(selector: dict[str, str] | None, type_: str = "ClusterIP", ns: str = "ns") -> ServiceView:
    return ServiceView(ns, "s", type_, selector)


@pytest.mark.parametrize(
    ("service", "selected"),
    [
        (svc({"app": "web"}), True),
        (svc({"app": "web", "tier": "front"}, type_="LoadBalancer"), True),
        (svc({"app": "web"}, ns="other"), False),
        (svc({"app": "web"}, type_="ExternalName"), False),
        (svc({}), False),
        (svc(None), False),
        (svc({"app": "web", "tier": "back"}), False),
    ],
)
def test_selects(service: ServiceView, selected: bool) -> None:
    assert selectors.selects(service, POD) is selected
    anchors = selectors.service_anchors(service)
    if selected:
        # The invariant the index rests on: a selecting Service's anchor is a pod anchor.
        assert len(anchors) == 1 and anchors[0] in selectors.pod_anchors(POD)


def test_the_anchor_is_the_smallest_pair_and_names_the_namespace() -> None:
    service = svc({"tier": "front", "app": "web"})
    assert selectors.service_anchors(service) == [selectors.anchor_key("ns", "app", "web")]
    assert selectors.service_anchors(svc({"app": "web"}, type_="ExternalName")) == []
    assert selectors.service_anchors(None) == []
    assert selectors.anchor_key("a", "b", "c") != selectors.anchor_key("a", "b\x00c", "")


def test_pod_and_service_views_carry_hostname_subdomain_and_headlessness() -> None:
    pod = objects.pod_view(
        {
            "metadata": {"name": "web-0", "namespace": "ns"},
            "spec": {"hostname": "web-0", "subdomain": "web"},
        }
    )
    assert (pod.hostname, pod.subdomain) == ("web-0", "web")
    assert objects.pod_view({"metadata": {"name": "p"}}).subdomain == ""
    headless = objects.service_view({"metadata": {"name": "web"}, "spec": {"clusterIP": "None"}})
    assert headless.headless
    normal = objects.service_view({"metadata": {"name": "web"}, "spec": {"clusterIP": "10.0.0.1"}})
    assert not normal.headless and not objects.service_view({}).headless
