from __future__ import annotations

import pytest

from meshtool.api import decisions
from meshtool.api.types import PodView, ServiceView
from meshtool.clock import FakeClock
from meshtool.pki import capool
from meshtool.signers import servicedns
from meshtool.signers.servicedns import ServiceDnsSigner

from . import requests
from .conftest import FakeView

T = requests.TARGET
LABELS = {"app": "web", "tier": "front", "track": "stable"}
POD = PodView(T.namespace, T.pod_name, T.pod_uid, LABELS, T.service_account_name, T.node_name)


def svc(name: str, selector: dict[str, str] | None, type_: str = "ClusterIP", ns: str = "ns1"):
    return ServiceView(ns, name, type_, selector)


@pytest.mark.parametrize(
    ("services", "want"),
    [
        ([svc("web", {"app": "web"})], ("web.ns1.svc",)),
        ([svc("web", {"app": "web"}, type_="")], ("web.ns1.svc",)),
        ([svc("web", {"app": "web"}, type_="NodePort")], ("web.ns1.svc",)),
        ([svc("web", {"app": "web"}, type_="LoadBalancer")], ("web.ns1.svc",)),
        ([svc("web", {"app": "web"}, type_="ExternalName")], ()),
        ([svc("web", None)], ()),
        ([svc("web", {})], ()),
        ([svc("web", {"app": "web"}, ns="other")], ()),
        ([svc("web", {"app": "api"})], ()),
        ([svc("web", {"app": "web", "tier": "back"})], ()),
        ([svc("web", {"app": "web", "missing": "label"})], ()),
        ([svc("web", {"app": "web", "tier": "front", "track": "stable"})], ("web.ns1.svc",)),
        (
            [
                svc("zeta", {"app": "web"}),
                svc("alpha", {"tier": "front"}),
                svc("mid", {"track": "stable"}, type_="NodePort"),
                svc("alpha", {"app": "web"}),  # the same name twice still yields one SAN
                svc("ext", {"app": "web"}, type_="ExternalName"),
                svc("none", None),
                svc("elsewhere", {"app": "web"}, ns="ns2"),
            ],
            ("alpha.ns1.svc", "mid.ns1.svc", "zeta.ns1.svc"),
        ),
    ],
)
def test_service_selection(services: list[ServiceView], want: tuple[str, ...]) -> None:
    assert servicedns.service_dns_names(POD, services) == want


def _decide(view: FakeView, pools: dict[str, capool.CAPool], clock: FakeClock):
    signer = ServiceDnsSigner()
    request = requests.request(signer_name=signer.signer_name)
    return signer.decide(request, view=view, pool=pools["ed25519"], clock=clock)


def test_issues_for_the_selecting_services(pools, clock) -> None:
    view = FakeView([POD], [svc("b", {"app": "web"}), svc("a", {"tier": "front"})])
    decision = _decide(view, pools, clock)
    assert isinstance(decision, decisions.Issued)
    assert "a.ns1.svc, b.ns1.svc" in decision.message


def test_no_matching_service_is_not_yet(pools, clock) -> None:
    view = FakeView([POD], [svc("web", {"app": "api"}), svc("other", {"app": "web"}, ns="ns2")])
    decision = _decide(view, pools, clock)
    assert isinstance(decision, decisions.NotYet)
    assert decision.reason == decisions.NO_MATCHING_SERVICE
    assert "pod web-0" in decision.message and "ns1" in decision.message


def test_missing_pod_is_not_yet(pools, clock) -> None:
    decision = _decide(FakeView([], [svc("web", {"app": "web"})]), pools, clock)
    assert isinstance(decision, decisions.NotYet)
    assert decision.reason == decisions.POD_NOT_FOUND
    assert "ns1/web-0" in decision.message


def test_denials_come_before_cache_lookups(pools, clock) -> None:
    signer = ServiceDnsSigner()
    request = requests.request_with_unsupported_key(signer_name=signer.signer_name, kind="RSA2048")
    decision = signer.decide(request, view=FakeView(), pool=pools["ed25519"], clock=clock)
    assert isinstance(decision, decisions.Denied)
    assert decision.reason == decisions.UNSUPPORTED_KEY_TYPE
