"""service-dns: pod-chosen Services, name forms, per-pod names under headless Services."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography import x509

from meshtool.api import decisions, selectors
from meshtool.api.types import PodView, ServiceView
from meshtool.clock import FakeClock
from meshtool.pki import capool, pem
from meshtool.signers import dnsforms
from meshtool.signers.servicedns import ServiceDnsSigner

from . import requests
from .conftest import FakeView

T = requests.TARGET
POD = PodView(T.namespace, T.pod_name, T.pod_uid, {"app": "web"}, T.service_account_name, "n")
STS_POD = dataclasses.replace(POD, hostname="web-0", subdomain="web")
SERVICES_KEY = "service-dns.row-major.net/services"
FORMS_KEY = "service-dns.row-major.net/name-forms"
ALL_FORMS = dnsforms.NameForms(cluster_domain_form=True, clusterset_domains=("clusterset.local",))


def svc(
    name: str, selector: dict[str, str] | None, type_: str = "ClusterIP", headless: bool = False
) -> ServiceView:
    return ServiceView("ns1", name, type_, selector, headless=headless)


def decide(
    view: FakeView,
    pools: dict[str, capool.CAPool],
    clock: FakeClock,
    annotations: dict[str, str] | None = None,
    forms: dnsforms.NameForms | None = None,
) -> decisions.Decision:
    signer = ServiceDnsSigner(forms=forms or dnsforms.NameForms())
    request = requests.request(signer_name=signer.signer_name, annotations=annotations)
    return signer.decide(request, view=view, pool=pools["ecdsa-p256"], clock=clock)


def dns_names(decision: decisions.Decision) -> list[str]:
    assert isinstance(decision, decisions.Issued), decision
    leaf = pem.certificates(decision.chain_pem.encode())[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName)


TWO = [svc("web", {"app": "web"}), svc("api", {"app": "web"}), svc("db", {"app": "db"})]


def test_without_a_choice_every_selecting_service_is_covered(pools, clock) -> None:
    assert dns_names(decide(FakeView([POD], TWO), pools, clock)) == ["api.ns1.svc", "web.ns1.svc"]


def test_chosen_services_narrow_the_names(pools, clock) -> None:
    decision = decide(FakeView([POD], TWO), pools, clock, {SERVICES_KEY: " web , web"})
    assert dns_names(decision) == ["web.ns1.svc"]


@pytest.mark.parametrize("chosen", ["db", "web,db", "db,missing"])
def test_a_chosen_service_that_does_not_select_the_pod_is_denied(pools, clock, chosen) -> None:
    decision = decide(FakeView([POD], TWO), pools, clock, {SERVICES_KEY: chosen})
    assert decision == decisions.Denied(
        decisions.SERVICE_DOES_NOT_SELECT_POD,
        f"Service ns1/db named in {SERVICES_KEY} does not select pod web-0",
    )


@pytest.mark.parametrize(
    "service",
    [
        svc("ext", {"app": "web"}, type_="ExternalName"),
        svc("ext", None),
        ServiceView("other", "ext", "ClusterIP", {"app": "web"}),
    ],
)
def test_services_that_select_nothing_here_cannot_be_chosen(pools, clock, service) -> None:
    decision = decide(FakeView([POD], [service]), pools, clock, {SERVICES_KEY: "ext"})
    if service.namespace == "other":
        assert isinstance(decision, decisions.NotYet)  # ns1/ext does not exist
    else:
        assert isinstance(decision, decisions.Denied)
        assert decision.reason == decisions.SERVICE_DOES_NOT_SELECT_POD


def test_a_chosen_service_that_does_not_exist_yet_is_waited_for(pools, clock) -> None:
    decision = decide(FakeView([POD], TWO), pools, clock, {SERVICES_KEY: "web,later"})
    assert isinstance(decision, decisions.NotYet)
    assert decision.reason == decisions.SERVICE_NOT_FOUND
    assert "ns1/later" in decision.message and "web-0" in decision.message
    assert decision.wake_on == (decisions.service("ns1", "later"), decisions.pod("ns1", "web-0"))


@pytest.mark.parametrize("chosen", ["", " , ", "Web", "a.b", "-x"])
def test_a_malformed_choice_is_an_invalid_annotation(pools, clock, chosen) -> None:
    decision = decide(FakeView([POD], TWO), pools, clock, {SERVICES_KEY: chosen})
    assert isinstance(decision, decisions.Denied)
    assert decision.reason == decisions.INVALID_USER_ANNOTATIONS
    assert SERVICES_KEY in decision.message


def test_unknown_keys_next_to_documented_ones_are_still_denied(pools, clock) -> None:
    notes = {SERVICES_KEY: "web", "service-dns.row-major.net/servics": "web"}
    decision = decide(FakeView([POD], TWO), pools, clock, notes)
    assert isinstance(decision, decisions.Denied)
    assert decision.reason == decisions.INVALID_USER_ANNOTATIONS
    assert "'service-dns.row-major.net/servics'" in decision.message


def test_the_annotation_keys_follow_the_signer_domain() -> None:
    signer = ServiceDnsSigner(signer_name="example.org/service-dns")
    assert set(signer.ANNOTATIONS) == {
        "service-dns.example.org/services",
        "service-dns.example.org/name-forms",
    }


def test_enabled_forms_are_all_used_by_default(pools, clock) -> None:
    decision = decide(FakeView([POD], TWO[:1]), pools, clock, forms=ALL_FORMS)
    assert dns_names(decision) == [
        "web.ns1.svc",
        "web.ns1.svc.cluster.local",
        "web.ns1.svc.clusterset.local",
    ]


@pytest.mark.parametrize(
    ("asked", "want"),
    [
        ("svc", ["web.ns1.svc"]),
        ("clusterset.local", ["web.ns1.svc.clusterset.local"]),
        ("cluster-domain, svc", ["web.ns1.svc", "web.ns1.svc.cluster.local"]),
    ],
)
def test_a_pod_chooses_among_the_allowed_forms(pools, clock, asked, want) -> None:
    decision = decide(FakeView([POD], TWO[:1]), pools, clock, {FORMS_KEY: asked}, ALL_FORMS)
    assert dns_names(decision) == want


@pytest.mark.parametrize(
    ("forms", "asked", "refused"),
    [
        (dnsforms.NameForms(), "cluster-domain", "'cluster-domain' is not"),
        (dnsforms.NameForms(), "svc,clusterset.local", "'clusterset.local' is not"),
        (ALL_FORMS, "example.net", "'example.net' is not"),
        (ALL_FORMS, " ", "no form is"),
    ],
)
def test_a_form_the_controller_does_not_allow_is_denied(
    pools, clock, forms, asked, refused
) -> None:
    decision = decide(FakeView([POD], TWO), pools, clock, {FORMS_KEY: asked}, forms)
    assert isinstance(decision, decisions.Denied)
    assert decision.reason == decisions.NAME_FORM_NOT_ALLOWED
    assert refused in decision.message and "allows svc" in decision.message


def test_the_cluster_domain_is_configurable(pools, clock) -> None:
    forms = dnsforms.NameForms(cluster_domain="corp.example", cluster_domain_form=True)
    names = dns_names(decide(FakeView([POD], TWO[:1]), pools, clock, forms=forms))
    assert names == ["web.ns1.svc", "web.ns1.svc.corp.example"]


HEADLESS = svc("web", {"app": "web"}, headless=True)


def test_a_pod_under_a_headless_service_gets_its_per_pod_name(pools, clock) -> None:
    decision = decide(FakeView([STS_POD], [HEADLESS]), pools, clock, forms=ALL_FORMS)
    assert dns_names(decision) == [
        "web-0.web.ns1.svc",
        "web-0.web.ns1.svc.cluster.local",
        "web-0.web.ns1.svc.clusterset.local",
        "web.ns1.svc",
        "web.ns1.svc.cluster.local",
        "web.ns1.svc.clusterset.local",
    ]


@pytest.mark.parametrize(
    "subdomain_service",
    [
        svc("web", {"app": "web"}),  # not headless
        svc("web", {"app": "db"}, headless=True),  # does not select the pod
    ],
)
def test_no_per_pod_name_without_a_selecting_headless_service(
    pools, clock, subdomain_service
) -> None:
    view = FakeView([STS_POD], [subdomain_service, svc("api", {"app": "web"})])
    names = dns_names(decide(view, pools, clock))
    assert not any(name.startswith("web-0.") for name in names)


def test_without_a_hostname_the_pod_name_is_the_hostname(pools, clock) -> None:
    pod = dataclasses.replace(POD, subdomain="web")
    assert dns_names(decide(FakeView([pod], [HEADLESS]), pools, clock)) == [
        "web-0.web.ns1.svc",
        "web.ns1.svc",
    ]


def test_a_missing_subdomain_service_is_waited_for(pools, clock) -> None:
    decision = decide(FakeView([STS_POD], [svc("api", {"app": "web"})]), pools, clock)
    assert isinstance(decision, decisions.NotYet)
    assert decision.reason == decisions.SERVICE_NOT_FOUND
    assert "ns1/web" in decision.message and "subdomain" in decision.message
    assert decisions.service("ns1", "web") in decision.wake_on


def test_the_per_pod_name_follows_the_choice(pools, clock) -> None:
    view = FakeView([STS_POD], [HEADLESS, svc("api", {"app": "web"})])
    only_api = decide(view, pools, clock, {SERVICES_KEY: "api"})
    assert dns_names(only_api) == ["api.ns1.svc"]
    with_web = decide(view, pools, clock, {SERVICES_KEY: "web"})
    assert dns_names(with_web) == ["web-0.web.ns1.svc", "web.ns1.svc"]


def test_waiting_for_a_selecting_service_wakes_on_the_pods_anchors(pools, clock) -> None:
    pod = dataclasses.replace(POD, labels={"app": "web", "tier": "front"})
    decision = decide(FakeView([pod], [svc("db", {"app": "db"})]), pools, clock)
    assert isinstance(decision, decisions.NotYet)
    assert decision.reason == decisions.NO_MATCHING_SERVICE
    assert decision.wake_on == (
        decisions.selector(selectors.anchor_key("ns1", "app", "web")),
        decisions.selector(selectors.anchor_key("ns1", "tier", "front")),
        decisions.pod("ns1", "web-0"),
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("web.ns1.svc", "Service web in namespace ns1"),
        (
            "web.ns1.svc.clusterset.local",
            "Service web in namespace ns1, under .svc.clusterset.local",
        ),
        ("web-0.web.ns1.svc", "pod web-0 of headless Service web in namespace ns1"),
        (
            "web-0.web.ns1.svc.cluster.local",
            "pod web-0 of headless Service web in namespace ns1, under .svc.cluster.local",
        ),
        ("example.com", "other name"),
        ("svc.example.com", "other name"),
    ],
)
def test_names_describe_their_form(name: str, kind: str) -> None:
    assert dnsforms.describe(name) == kind


def test_every_service_dns_reason_and_key_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    reasons = [
        decisions.NO_MATCHING_SERVICE,
        decisions.SERVICE_NOT_FOUND,
        decisions.SERVICE_DOES_NOT_SELECT_POD,
        decisions.NAME_FORM_NOT_ALLOWED,
        decisions.INVALID_USER_ANNOTATIONS,
    ]
    keys = ["service-dns.<signer domain>/services", "service-dns.<signer domain>/name-forms"]
    forms = [f"`{dnsforms.SVC}`", f"`{dnsforms.CLUSTER_DOMAIN}`", "`clusterset.local`"]
    for documented in [*reasons, *keys, *forms]:
        assert documented in readme, documented
