"""Resource descriptors: where a kind lives in the REST API.

A `Resource` is group + version + plural + scope; it turns (namespace, name, subresource) into
a URL path. It is the only place that knows the URL layout, and it holds no version policy:
which version of certificates.k8s.io to use is decided by the caller from discovery.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Resource:
    group: str
    """"" for the core group."""
    version: str
    plural: str
    namespaced: bool

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        """The `apiVersion` field value for objects of this resource."""
        return self.group_version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The URL path; without `namespace` a namespaced resource is addressed across all."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [base]
        if self.namespaced and namespace is not None:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name is not None:
            parts.append(name)
            if subresource is not None:
                parts.append(subresource)
        return "/".join(parts)


PODS = Resource("", "v1", "pods", True)
SERVICES = Resource("", "v1", "services", True)
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", True)
NODES = Resource("", "v1", "nodes", False)
NAMESPACES = Resource("", "v1", "namespaces", False)
SECRETS = Resource("", "v1", "secrets", True)
EVENTS = Resource("events.k8s.io", "v1", "events", True)
LEASES = Resource("coordination.k8s.io", "v1", "leases", True)
TOKEN_REVIEWS = Resource("authentication.k8s.io", "v1", "tokenreviews", False)
SUBJECT_ACCESS_REVIEWS = Resource("authorization.k8s.io", "v1", "subjectaccessreviews", False)
SELF_SUBJECT_RULES_REVIEWS = Resource(
    "authorization.k8s.io", "v1", "selfsubjectrulesreviews", False
)


def pod_certificate_requests(version: str) -> Resource:
    return Resource("certificates.k8s.io", version, "podcertificaterequests", True)


def cluster_trust_bundles(version: str) -> Resource:
    return Resource("certificates.k8s.io", version, "clustertrustbundles", False)
