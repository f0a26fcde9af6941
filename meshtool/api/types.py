"""Canonical, version-free types for what meshtool reads from the Kubernetes API.

Every PodCertificateRequest version (v1alpha1, v1beta1 in both key forms, v1) is parsed at the
edge into one `PodCertRequest`; nothing outside `meshtool.api` sees a wire version. The cluster
objects the signers consult (pods, services, service accounts, nodes) are reduced to small frozen
views holding only the fields a signer uses, so informer caches stay small.

Invariants: all values are immutable; a `PodCertRequest` always names its object
(`namespace`/`name`) so any error about it can say which request it was.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NewType

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from meshtool.pki.keys import KeyType as KeyType  # re-exported: every request carries one

ObjectKey = NewType("ObjectKey", str)
"""`<namespace>/<name>` for namespaced objects, `<name>` for cluster-scoped ones."""


class KeySource(enum.Enum):
    STUB_PKCS10 = "stubPKCS10Request"
    PKIX = "pkixPublicKey"


class Terminal(enum.Enum):
    """The terminal condition types of a PCR status."""

    ISSUED = "Issued"
    DENIED = "Denied"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class PodCertRequest:
    """One pending PodCertificateRequest, whatever version it was read in.

    It carries everything a status write needs (`api_version` is the version it was read
    through, and the one to write back through), so no raw object travels to the PUT.
    `public_key` is None when the request's key could not be read; `key_error` then says why.
    `key_type` is None when the key was read but is not one of the six allowed types.
    """

    namespace: str
    name: str
    uid: str
    resource_version: str
    api_version: str
    signer_name: str
    pod_name: str
    pod_uid: str
    service_account_name: str
    service_account_uid: str
    node_name: str
    node_uid: str
    max_expiration_seconds: int
    key_source: KeySource | None
    public_key: PublicKeyTypes | None
    key_type: KeyType | None
    key_error: str | None
    user_annotations: Mapping[str, str] = field(default_factory=dict)
    created_at: dt.datetime | None = None

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(f"{self.namespace}/{self.name}")


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A pending request too broken to parse; it can still be answered (Denied), so it keeps
    what a status write needs, and `error` names the field and the problem."""

    namespace: str
    name: str
    uid: str
    resource_version: str
    api_version: str
    signer_name: str
    error: str
    created_at: dt.datetime | None = None

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(f"{self.namespace}/{self.name}")


@dataclass(frozen=True, slots=True)
class Answered:
    """A request that already has its terminal condition: all that is left to know of it."""

    namespace: str
    name: str
    signer_name: str
    terminal: Terminal

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(f"{self.namespace}/{self.name}")


PcrEntry = PodCertRequest | Unreadable | Answered
"""What the PCR informer keeps per object: `meshtool.api.pcr.read` decides which."""


@dataclass(frozen=True, slots=True)
class PodView:
    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str]
    service_account_name: str
    node_name: str
    hostname: str = ""
    """`spec.hostname`; with `subdomain` it names the pod under a headless Service."""
    subdomain: str = ""
    """`spec.subdomain`: the headless Service the pod's own DNS name lives under, if any."""


@dataclass(frozen=True, slots=True)
class ServiceView:
    namespace: str
    name: str
    type: str
    """ClusterIP, NodePort, LoadBalancer or ExternalName."""
    selector: Mapping[str, str] | None
    """None (or empty) means the Service selects no pods by label."""
    headless: bool = False
    """`spec.clusterIP: None`: DNS answers with the pods themselves, one name per pod."""


@dataclass(frozen=True, slots=True)
class ServiceAccountView:
    namespace: str
    name: str
    uid: str


@dataclass(frozen=True, slots=True)
class NodeView:
    name: str
    uid: str
