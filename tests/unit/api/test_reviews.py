"""TokenReview / SubjectAccessReview bodies and the reading of their answers."""

from __future__ import annotations

import pytest

from meshtool.api import reviews


def test_token_review_body():
    body = reviews.token_review("t0k", ["https://k8s"])
    assert body["kind"] == "TokenReview"
    assert body["spec"] == {"token": "t0k", "audiences": ["https://k8s"]}
    assert "audiences" not in reviews.token_review("t0k")["spec"]


def test_reviewed_subject_carries_identity_not_token():
    status = {
        "authenticated": True,
        "user": {"username": "u", "uid": "1", "groups": ["a", "b"], "extra": {"k": ["v"]}},
    }
    subject = reviews.reviewed_subject(status)
    assert subject == reviews.Subject("u", "1", ("a", "b"), {"k": ("v",)})
    body = reviews.url_access_review(subject, "/metrics")
    assert body["spec"] == {
        "user": "u",
        "uid": "1",
        "groups": ["a", "b"],
        "extra": {"k": ["v"]},
        "nonResourceAttributes": {"path": "/metrics", "verb": "get"},
    }


@pytest.mark.parametrize(
    "status",
    [
        {},
        {"authenticated": False, "user": {"username": "u"}},
        {"authenticated": "true", "user": {"username": "u"}},
        {"authenticated": True},
        {"authenticated": True, "user": {"username": ""}},
        {"authenticated": True, "user": "u"},
    ],
)
def test_odd_token_answers_are_not_authenticated(status):
    assert reviews.reviewed_subject(status) is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"allowed": True}, True),
        ({"allowed": True, "denied": True}, False),
        ({"allowed": False}, False),
        ({"allowed": "true"}, False),
        ({}, False),
    ],
)
def test_allowed(status, expected):
    assert reviews.allowed(status) is expected


def test_resource_access_review_body_leaves_empty_attributes_out():
    body = reviews.resource_access_review(
        "system:serviceaccount:ns:sa",
        ["system:authenticated"],
        {"verb": "update", "group": "", "resource": "secrets", "name": "pool", "namespace": "ns"},
    )
    assert body == {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "system:serviceaccount:ns:sa",
            "groups": ["system:authenticated"],
            "resourceAttributes": {
                "verb": "update",
                "resource": "secrets",
                "name": "pool",
                "namespace": "ns",
            },
        },
    }
