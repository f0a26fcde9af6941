"""`ControllerSettings.validate()` names the flag; `ShardingSettings` builds the identity."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from meshtool.app.settings import (
    KEY_TYPES,
    BundleEndpointSettings,
    ControllerSettings,
    ShardingSettings,
    SignerSettings,
)
from meshtool.signers import spiffe

USABLE = ControllerSettings(spiffe=SignerSettings(True, Path("pool")))


def test_the_defaults_with_one_signer_are_valid():
    assert USABLE.validate() is None
    assert USABLE.spiffe_trust_domain == spiffe.DEFAULT_TRUST_DOMAIN
    assert (USABLE.kube_api_qps, USABLE.kube_api_burst) == (300.0, 600)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"accepted_key_types": ("ED25519", "RSA2048")}, "--accepted-key-types: unknown 'RSA2048'"),
        ({"log_level": "trace"}, "--log-level must be debug, info or warning"),
        ({"metrics_auth": "basic"}, "--metrics-auth must be none or kubernetes"),
        ({"log_format": "xml"}, "--log-format must be json or text"),
        ({"kube_api_burst": 0}, "--kube-api-qps/burst must be > 0"),
        ({"in_cluster": True, "kubeconfig": "k"}, "--in-cluster and --kubeconfig conflict"),
    ],
)
def test_problems_are_one_sentence_naming_the_flag(change, message):
    problem = dataclasses.replace(USABLE, **change).validate()
    assert problem is not None and problem.startswith(message)
    assert "\n" not in problem


def test_every_kubernetes_key_type_is_accepted():
    assert dataclasses.replace(USABLE, accepted_key_types=KEY_TYPES).validate() is None
    assert len(KEY_TYPES) == 6


def test_sharding_is_off_until_namespace_and_name_are_set():
    assert ShardingSettings().identity() is None
    assert ShardingSettings().validate() is None
    identity = ShardingSettings(pod_namespace="ns", pod_name="pod-0").identity()
    assert identity is not None
    assert (identity.namespace, identity.pod_name, identity.pod_uid) == ("ns", "pod-0", "")
    assert identity.application == "meshtool-controller"


def test_half_a_sharding_identity_is_a_problem():
    problem = ShardingSettings(pod_name="pod-0").validate()
    assert problem == "--sharding-pod-namespace and --sharding-pod-name go together"


def test_the_refresh_fraction_reaches_every_signer_and_is_validated() -> None:
    from meshtool.app import components
    from meshtool.clock import FakeClock
    from meshtool.controllers.metrics import Metrics

    settings = ControllerSettings(
        service_dns=SignerSettings(enabled=True, pool_file=Path("p")),
        spiffe=SignerSettings(enabled=True, pool_file=Path("p")),
        refresh_fraction=0.1,
    )
    setups = components.build_signers(
        settings,
        clock=FakeClock(),
        metrics=Metrics(),
        on_pool_change=lambda: None,
        cluster_issuer=None,
    )
    assert [s.signer.lifetime.refresh_fraction for s in setups] == [0.1, 0.1]
    bad = ControllerSettings(service_dns=settings.service_dns, refresh_fraction=1.0)
    assert bad.validate() == "--refresh-fraction must be between 0 and 1"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"cluster_domain": "Not A Domain"}, "--cluster-domain: 'Not A Domain'"),
        ({"service_dns_clusterset_domains": ("ok.local", "bad_")}, "clusterset-domains: 'bad_'"),
        ({"service_dns_clusterset_domains": ("svc",)}, "clusterset-domains: 'svc'"),
    ],
)
def test_name_form_domains_are_validated(changes: dict[str, object], problem: str) -> None:
    settings = dataclasses.replace(USABLE, **changes)  # type: ignore[arg-type]
    found = settings.validate()
    assert found is not None and problem in found


def test_name_forms_come_from_the_settings() -> None:
    settings = dataclasses.replace(
        USABLE,
        cluster_domain="corp.example",
        service_dns_cluster_domain_names=True,
        service_dns_clusterset_domains=("clusterset.local",),
    )
    assert settings.validate() is None
    assert settings.name_forms().allowed == {
        "svc": "",
        "cluster-domain": ".corp.example",
        "clusterset.local": ".clusterset.local",
    }
    assert ControllerSettings().name_forms().allowed == {"svc": ""}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("discover", None),
        ("none", None),
        ("https://oidc.example/cluster-a", None),
        ("http://oidc.example", "--cluster-issuer: 'http://oidc.example' is not an https URL"),
        ("discovr", "--cluster-issuer: 'discovr' is not an https URL"),
    ],
)
def test_the_cluster_issuer_is_validated(value: str, problem: str | None) -> None:
    found = dataclasses.replace(USABLE, cluster_issuer=value).validate()
    assert found == problem or (problem is not None and (found or "").startswith(problem))


def _endpoint(**changes: object) -> ControllerSettings:
    config = BundleEndpointSettings(**{"listen": ":8443", **changes})  # type: ignore[arg-type]
    return dataclasses.replace(USABLE, bundle_endpoint=config)


def test_the_bundle_endpoint_is_off_by_default_and_valid_when_listening():
    assert USABLE.bundle_endpoint.listen is None
    assert _endpoint().validate() is None
    assert _endpoint().bundle_endpoint.endpoint_id("cluster.local") == (
        "spiffe://cluster.local/meshtool/bundle-endpoint"
    )


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"listen": "nope"}, "--bundle-endpoint-listen 'nope' is not HOST:PORT"),
        ({"profile": "https_web"}, "--bundle-endpoint-profile=https_web needs"),
        ({"profile": "http"}, "--bundle-endpoint-profile must be"),
        ({"refresh_hint": 0}, "--bundle-refresh-hint must be at least 1"),
        ({"spiffe_id": "spiffe://other.td/x"}, "--bundle-endpoint-spiffe-id 'spiffe://other.td/x'"),
        ({"spiffe_id": "spiffe://cluster.local"}, "--bundle-endpoint-spiffe-id"),
        ({"spiffe_id": "https://x"}, "--bundle-endpoint-spiffe-id: "),
    ],
)
def test_bundle_endpoint_problems_name_the_flag(changes, problem):
    found = _endpoint(**changes).validate()
    assert found is not None and found.startswith(problem), found


def test_the_bundle_endpoint_needs_the_spiffe_signer():
    settings = dataclasses.replace(
        _endpoint(), spiffe=SignerSettings(), service_dns=SignerSettings(True, Path("p"))
    )
    assert settings.validate() == "--bundle-endpoint-listen needs --enable-spiffe-signer"


def test_federation_is_off_by_default_and_needs_the_spiffe_signer():
    assert USABLE.federation is False
    assert dataclasses.replace(USABLE, federation=True).validate() is None
    dns_only = ControllerSettings(service_dns=SignerSettings(True, Path("pool")), federation=True)
    assert dns_only.validate() == "--federation needs the spiffe signer (--enable-spiffe-signer)"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"federation_min_refresh": 0.0}, "--federation-min-refresh must be positive"),
        ({"federation_max_refresh": 10.0}, "--federation-max-refresh must be at least"),
        ({"federation_fetch_timeout": 0.0}, "--federation-fetch-timeout must be positive"),
    ],
)
def test_federation_timings_are_validated(changes, problem):
    found = dataclasses.replace(USABLE, federation=True, **changes).validate()
    assert found is not None and found.startswith(problem)
