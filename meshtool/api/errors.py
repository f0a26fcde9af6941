"""Errors raised at the API edge when an object cannot be read at all.

    ValueError
    └── MalformedObject            a Kubernetes object lacks a required field or has a wrong type
        └── MalformedRequest       ... and that object is a PodCertificateRequest

A malformed object is one the API server would never have produced: a missing required spec
field, a number where a string belongs. Problems a user can cause through a well-formed object
(an unreadable or unsupported key, an unknown annotation) are *not* errors here; they are
carried on the parsed value so a signer can deny the request with a reason.

Every message names the object (`namespace/name`, or `name` for cluster-scoped kinds) and the
offending field, so a log line alone is enough to find the culprit.
"""

from __future__ import annotations


class MalformedObject(ValueError):
    """A Kubernetes object is structurally broken; the message names the object and field."""

    def __init__(self, kind: str, key: str, field: str, problem: str) -> None:
        super().__init__(f"{kind} {key}: {field}: {problem}")
        self.kind = kind
        self.key = key
        self.field = field
        self.problem = problem


class MalformedRequest(MalformedObject):
    """A PodCertificateRequest is structurally broken."""

    def __init__(self, key: str, field: str, problem: str) -> None:
        super().__init__("PodCertificateRequest", key, field, problem)
