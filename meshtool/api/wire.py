"""The JSON shapes meshtool exchanges with kube-apiserver, and the metav1.Time encoding.

The TypedDicts describe what we *write* (status bodies, ClusterTrustBundles) and document what
we read. Parsers take `Mapping[str, object]` instead, because incoming JSON is untrusted until
checked field by field; typing it as a TypedDict would let the type checker believe it.

Byte fields (`stubPKCS10Request`, `pkixPublicKey`, `proofOfPossession`) are standard base64
with padding. metav1.Time is RFC 3339 in UTC with a `Z` and no fraction; the PCR status rules
compare times to the second, so `format_time` refuses nothing but always drops the fraction,
and callers must hand it whole-second datetimes where exact equality matters.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal, NotRequired, TypedDict

from meshtool import clock

GROUP = "certificates.k8s.io"
PCR_KIND = "PodCertificateRequest"
CTB_KIND = "ClusterTrustBundle"
DEFAULT_MAX_EXPIRATION_SECONDS = 86400
MAX_MESSAGE = 32 * 1024
"""metav1.Condition.message limit in bytes."""
_MICRO_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class ObjectMeta(TypedDict, total=False):
    name: str
    namespace: str
    uid: str
    resourceVersion: str
    creationTimestamp: str
    labels: dict[str, str]
    annotations: dict[str, str]


ConditionType = Literal["Issued", "Denied", "Failed"]


class Condition(TypedDict):
    type: ConditionType
    status: Literal["True"]
    reason: str
    message: str
    lastTransitionTime: str


class PCRSpec(TypedDict, total=False):
    signerName: str
    podName: str
    podUID: str
    serviceAccountName: str
    serviceAccountUID: str
    nodeName: str
    nodeUID: str
    maxExpirationSeconds: int
    pkixPublicKey: str
    """v1alpha1, v1beta1 (deprecated from 1.36); absent in v1."""
    proofOfPossession: str
    stubPKCS10Request: str | None
    """v1beta1 from 1.36 (may be null on old objects) and v1."""
    unverifiedUserAnnotations: dict[str, str]
    """v1beta1 and v1; absent in v1alpha1."""


class PCRStatus(TypedDict):
    conditions: list[Condition]
    certificateChain: NotRequired[str]
    notBefore: NotRequired[str]
    notAfter: NotRequired[str]
    beginRefreshAt: NotRequired[str]


class PodCertificateRequest(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: PCRSpec
    status: PCRStatus


class CTBMeta(TypedDict):
    name: str
    labels: dict[str, str]
    annotations: NotRequired[dict[str, str]]


class CTBSpec(TypedDict):
    signerName: str
    trustBundle: str


class ClusterTrustBundle(TypedDict):
    apiVersion: str
    kind: str
    metadata: CTBMeta
    spec: CTBSpec


_CANONICAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


format_time = clock.format_rfc3339
"""metav1.Time, `2026-01-01T00:00:00Z`: converted to UTC, naive datetimes rejected."""


def format_micro_time(t: dt.datetime) -> str:
    """metav1.MicroTime (`2026-01-01T00:00:00.000000Z`), as Leases and Events carry it."""
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t!r}: metav1.MicroTime needs a timezone")
    return t.astimezone(dt.UTC).strftime(_MICRO_TIME_FORMAT)


def parse_time(text: str) -> dt.datetime:
    """Parse a metav1.Time (any RFC 3339 form; `fromisoformat` is C code, unlike strptime).
    Raises only ValueError."""
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no timezone")
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError(f"{text!r} is out of range in UTC") from None


def time_or_none(value: object) -> dt.datetime | None:
    """`parse_time` for a field that may be missing or bad: None instead of an error."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def is_canonical_time(text: str) -> bool:
    """True for exactly `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, UTC)."""
    if not _CANONICAL.fullmatch(text):
        return False
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
