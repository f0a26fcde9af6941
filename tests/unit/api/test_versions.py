from __future__ import annotations

import pytest

from meshtool.api import versions

PCR, CTB = versions.PODCERTIFICATEREQUESTS, versions.CLUSTERTRUSTBUNDLES


@pytest.mark.parametrize(
    ("served", "plural", "want"),
    [
        ({"v1alpha1": {PCR, CTB}}, PCR, "v1alpha1"),  # 1.34
        ({"v1alpha1": {CTB}, "v1beta1": {PCR, CTB}}, PCR, "v1beta1"),  # 1.35/1.36
        ({"v1alpha1": {CTB}, "v1beta1": {PCR, CTB}}, CTB, "v1beta1"),
        ({"v1": {PCR, CTB, "certificatesigningrequests"}, "v1beta1": {PCR, CTB}}, PCR, "v1"),
        ({"v1": {"certificatesigningrequests"}, "v1beta1": {CTB}}, PCR, None),
        ({"v1": {"certificatesigningrequests"}}, CTB, None),
        ({}, PCR, None),
        ({"v2": {PCR}}, PCR, None),
    ],
)
def test_choose_prefers_the_newest_serving_version(
    served: dict[str, set[str]], plural: str, want: str | None
) -> None:
    assert versions.choose(served, plural) == want


def test_preference_order() -> None:
    assert versions.PREFERENCE == ("v1", "v1beta1", "v1alpha1")


def test_pcr_message_names_gate_and_runtime_config() -> None:
    message = versions.not_served_message(PCR)
    assert "PodCertificateRequest=true" in message
    assert "--runtime-config=certificates.k8s.io/v1beta1/podcertificaterequests=true" in message
    assert "certificates.k8s.io/v1alpha1/podcertificaterequests=true" in message
    assert "1.34" in message and "1.35" in message


def test_ctb_message_names_both_gates_and_runtime_config() -> None:
    message = versions.not_served_message(CTB)
    assert "ClusterTrustBundle=true" in message
    assert "ClusterTrustBundleProjection=true" in message
    assert "--runtime-config=certificates.k8s.io/v1beta1/clustertrustbundles=true" in message


def test_unknown_plural_message() -> None:
    assert "widgets" in versions.not_served_message("widgets")
