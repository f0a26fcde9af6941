"""TokenReview and SubjectAccessReview on the wire: the bodies we send and what the answers mean.

This is how a component delegates "who is this bearer token?" and "may they do this?" to
kube-apiserver, as kube-rbac-proxy does for a metrics endpoint: a TokenReview turns a token into
a `Subject` (or None when the apiserver does not accept it), and a SubjectAccessReview for a
non-resource URL (`/metrics`, verb `get`) answers whether that subject may read it.

Only pure conversions live here; `meshtool.kube` sends them. A token is only ever placed in a
TokenReview body: `Subject` does not carry it, and nothing here formats it into a message.
Reading tolerates odd answers: anything but `authenticated: true` with a user name is "not
authenticated", anything but `allowed: true` is "not allowed".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a token belongs to, as the apiserver's authenticators said."""

    user: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def token_review(token: str, audiences: Sequence[str] = ()) -> JSON:
    """A TokenReview body; no audiences means the apiserver's own."""
    spec: JSON = {"token": token}
    if audiences:
        spec["audiences"] = list(audiences)
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}


def reviewed_subject(status: Mapping[str, Any]) -> Subject | None:
    """The subject of a TokenReview's status, or None when the token was not accepted."""
    user = status.get("user")
    if status.get("authenticated") is not True or not isinstance(user, dict):
        return None
    name = user.get("username")
    if not isinstance(name, str) or not name:
        return None
    extra = user.get("extra")
    extra = extra if isinstance(extra, dict) else {}
    return Subject(
        user=name,
        uid=str(user.get("uid") or ""),
        groups=tuple(str(g) for g in user.get("groups") or ()),
        extra={str(k): tuple(str(v) for v in vs or ()) for k, vs in extra.items()},
    )


def url_access_review(subject: Subject, path: str, verb: str = "get") -> JSON:
    """A SubjectAccessReview body: may `subject` send `verb` to the non-resource URL `path`?"""
    spec: JSON = {
        "user": subject.user,
        "groups": list(subject.groups),
        "nonResourceAttributes": {"path": path, "verb": verb},
    }
    if subject.uid:
        spec["uid"] = subject.uid
    if subject.extra:
        spec["extra"] = {k: list(v) for k, v in subject.extra.items()}
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}


def resource_access_review(user: str, groups: Sequence[str], attributes: Mapping[str, str]) -> JSON:
    """A SubjectAccessReview body: may `user` in `groups` do what `attributes` (verb, group,
    resource, subresource, name, namespace) say? Empty attributes are left out."""
    spec: JSON = {
        "user": user,
        "groups": list(groups),
        "resourceAttributes": {k: v for k, v in attributes.items() if v},
    }
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}


def allowed(status: Mapping[str, Any]) -> bool:
    """Whether a SubjectAccessReview's status allows the request."""
    return status.get("allowed") is True and status.get("denied") is not True
