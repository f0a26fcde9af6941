"""Selector semantics, anchors, and the view fields the per-pod names need."""

from __future__ import annotations

import pytest

from meshtool.api import decisions, objects, selectors
from meshtool.api.types import PodView, ServiceView
from meshtool.runtime.wakeups import Wakeups

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


def test_a_service_change_wakes_only_the_requests_it_may_help() -> None:
    waiting: Wakeups[str, decisions.WakeOn] = Wakeups()
    web = PodView("ns", "web", "u", {"app": "web", "tier": "front"}, "sa", "n")
    db = PodView("ns", "db", "u", {"app": "db"}, "sa", "n")
    for pod in (web, db):  # held for a selecting Service, as service-dns asks
        waiting.wait(pod.name, [decisions.selector(a) for a in selectors.pod_anchors(pod)])
    waiting.wait("chooser", [decisions.service("ns", "late")])

    def woken(old: ServiceView | None, new: ServiceView | None, key: str = "ns/s") -> set[str]:
        return {k for change in selectors.wakes(key, old, new) for k in waiting.waiting_on(change)}

    assert woken(None, svc({"app": "web"})) == {"web"}
    assert woken(None, svc({"tier": "front", "zone": "a"})) == {"web"}
    assert woken(svc({"app": "db"}), svc({"app": "web"})) == {"db", "web"}
    assert woken(None, svc({"app": "other"})) == set()
    assert woken(None, svc({"app": "web"}, ns="other"), key="other/s") == set()
    assert woken(None, svc(None), key="ns/late") == {"chooser"}
