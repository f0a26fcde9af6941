"""FederatedTrustDomain reading and validation, and the federated CTB names and labels."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from meshtool.api import federation

SIGNER = "row-major.net/spiffe"
NAME_SUFFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"


def obj(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "trustDomain": "peer.example",
        "bundleEndpointURL": "https://peer.example:8443/",
        "bundleEndpointProfile": {
            "type": "https_spiffe",
            "endpointSPIFFEID": "spiffe://peer.example/meshtool/bundle-endpoint",
        },
    }
    return {
        "metadata": {"name": "peer", "uid": "u1", "generation": 2},
        "spec": base | spec,
        "status": {"sequence": 3},
    }


def test_a_good_spec_reads_into_its_fields() -> None:
    fed = federation.read(obj(trustDomainBundle='{"keys":[]}'))
    assert fed.problem == ""
    assert (fed.name, fed.uid, fed.generation) == ("peer", "u1", 2)
    assert fed.trust_domain == "peer.example" and fed.profile == federation.HTTPS_SPIFFE
    assert fed.endpoint_id == "spiffe://peer.example/meshtool/bundle-endpoint"
    assert fed.bootstrap == '{"keys":[]}' and fed.status == {"sequence": 3}


def test_https_web_needs_no_endpoint_id() -> None:
    fed = federation.read(obj(bundleEndpointProfile={"type": "https_web"}))
    assert fed.problem == "" and fed.profile == federation.HTTPS_WEB


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"trustDomain": "Peer.example"}, "spec.trustDomain"),
        ({"trustDomain": "a" * 64}, "spec.trustDomain"),
        ({"trustDomain": ""}, "spec.trustDomain"),
        ({"bundleEndpointURL": "http://peer.example/"}, "spec.bundleEndpointURL"),
        ({"bundleEndpointURL": "https:///x"}, "spec.bundleEndpointURL"),
        ({"bundleEndpointURL": "https://u:p@peer.example/"}, "spec.bundleEndpointURL"),
        ({"bundleEndpointURL": "https://peer.example:99999/"}, "spec.bundleEndpointURL"),
        ({"bundleEndpointProfile": {"type": "https"}}, "spec.bundleEndpointProfile.type"),
        ({"bundleEndpointProfile": {"type": "https_spiffe"}}, "endpointSPIFFEID"),
        (
            {"bundleEndpointProfile": {"type": "https_spiffe", "endpointSPIFFEID": "spiffe://x"}},
            "endpointSPIFFEID",
        ),
        (
            {
                "bundleEndpointProfile": {
                    "type": "https_spiffe",
                    "endpointSPIFFEID": "spiffe://x/..",
                }
            },
            "endpointSPIFFEID",
        ),
        (
            {"bundleEndpointProfile": {"type": "https_web", "endpointSPIFFEID": "spiffe://x/y"}},
            "endpointSPIFFEID",
        ),
    ],
)
def test_a_bad_spec_carries_a_problem_naming_the_field(spec: dict[str, Any], field: str) -> None:
    fed = federation.read(obj(**spec))
    assert field in fed.problem
    assert fed.name == "peer" and fed.status == {"sequence": 3}


def test_a_missing_spec_is_a_problem_not_an_exception() -> None:
    fed = federation.read({"metadata": {"name": "empty"}})
    assert "spec.trustDomain" in fed.problem


def test_ctb_names_start_with_the_signer_and_keep_trust_domains_apart() -> None:
    import re

    plain = federation.ctb_name(SIGNER, "peer.example")
    assert plain == "row-major.net:spiffe:federated.peer.example"
    odd = [federation.ctb_name(SIGNER, td) for td in ("peer_one", "peer-one", "a..b", "a.-b")]
    names = [plain, *odd]
    assert len(set(names)) == len(names)
    for name in names:
        assert name.startswith("row-major.net:spiffe:")
        suffix = name.removeprefix("row-major.net:spiffe:")
        assert ":" not in suffix and re.fullmatch(NAME_SUFFIX, suffix), name
        assert len(name) <= 253
        assert federation.is_federated(name)
    assert odd[0].startswith("row-major.net:spiffe:federated-sha256.")
    assert odd[1] == "row-major.net:spiffe:federated.peer-one"
    assert not federation.is_federated("row-major.net:spiffe:primary-bundle")


def test_labels_name_both_trust_domains() -> None:
    got = federation.labels("row-major.net", own_trust_domain="a.td", peer_trust_domain="b_td")
    assert got == {
        "spiffe.row-major.net/trust-domain": "b_td",
        "spiffe.row-major.net/canarying": "live",
        "k8s.spiffe.io/canarying": "live",
        "k8s.spiffe.io/workload-trust-domain": "a.td",
        "k8s.spiffe.io/peer-trust-domain": "b_td",
    }


T0 = dt.datetime(2026, 12, 3, 17, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=5)


def test_status_body_records_a_success_and_clears_the_last_error() -> None:
    fed = federation.read(obj() | {"status": {"lastError": "x", "lastErrorTime": "then"}})
    body = federation.status_body(
        fed,
        federation.Ready(True, "Fetched", "ok"),
        now=T1,
        schedule=(T1 + dt.timedelta(hours=1), 0),
        fetched=(T0, 7, 300),
    )
    assert body["lastSuccessfulFetchTime"] == "2026-12-03T17:00:00Z"
    assert (body["sequence"], body["refreshHint"]) == (7, 300)
    assert (body["lastError"], body["lastErrorTime"]) == (None, None)  # the patch removes them
    assert (body["nextFetchTime"], body["consecutiveFailures"]) == ("2026-12-03T18:05:00Z", 0)
    assert body["observedGeneration"] == 2
    [ready] = body["conditions"]
    assert (ready["status"], ready["reason"], ready["lastTransitionTime"]) == (
        "True",
        "Fetched",
        "2026-12-03T17:05:00Z",
    )


def test_the_ready_condition_keeps_its_transition_time_until_it_flips() -> None:
    before = {"type": "Ready", "status": "False", "lastTransitionTime": "2026-12-01T00:00:00Z"}
    fed = federation.read(obj() | {"status": {"conditions": [before]}})
    failed = federation.Ready(False, "FetchFailed", "e")
    still = federation.status_body(fed, failed, now=T1, error=("fetch failed", T0))
    flipped = federation.status_body(fed, federation.Ready(True, "Fetched", "ok"), now=T1)
    assert still["conditions"][0]["lastTransitionTime"] == "2026-12-01T00:00:00Z"
    assert flipped["conditions"][0]["lastTransitionTime"] == "2026-12-03T17:05:00Z"
    assert "nextFetchTime" not in still and "lastSuccessfulFetchTime" not in still
    assert (still["lastError"], still["lastErrorTime"]) == ("fetch failed", "2026-12-03T17:00:00Z")


def test_a_long_message_is_cut_to_the_apiserver_limit() -> None:
    fed = federation.read(obj())
    body = federation.status_body(fed, federation.Ready(False, "X", "m" * 40_000), now=T0)
    assert len(body["conditions"][0]["message"]) == 32 * 1024
