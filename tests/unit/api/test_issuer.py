from __future__ import annotations

import pytest

from meshtool.api import issuer


@pytest.mark.parametrize(
    "url",
    ["https://kubernetes.default.svc", "https://127.0.0.1:6443", "https://oidc.example/id/x/"],
)
def test_https_issuers_are_usable(url) -> None:
    assert issuer.problem(url) is None
    assert issuer.setting_problem(url) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://kubernetes.default.svc", "not an https URL"),
        ("kubernetes.default.svc", "not an https URL"),
        ("https://", "not an https URL"),
        ("https://h/?a=b", "query or fragment"),
        ("https://h/#frag", "query or fragment"),
        ("https://h:notaport/", "not a URL"),
    ],
)
def test_other_issuers_are_refused_with_the_flag_named(url, problem) -> None:
    assert problem in (issuer.problem(url) or "")
    assert (issuer.setting_problem(url) or "").startswith("--cluster-issuer: ")


def test_discover_and_none_are_settings() -> None:
    assert issuer.setting_problem("discover") is None
    assert issuer.setting_problem("none") is None


def test_the_issuer_is_read_from_the_discovery_document() -> None:
    document = {"issuer": "https://127.0.0.1:6443", "jwks_uri": "https://127.0.0.1:6443/openid"}
    assert issuer.from_discovery(document) == "https://127.0.0.1:6443"


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({}, "no issuer string"),
        ([], "no issuer string"),
        ({"issuer": 7}, "no issuer string"),
        ({"issuer": "http://x"}, "not an https URL"),
    ],
)
def test_a_bad_discovery_document_is_an_error(document, problem) -> None:
    with pytest.raises(issuer.IssuerError, match=problem):
        issuer.from_discovery(document)
