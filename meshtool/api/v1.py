"""PodCertificateRequest certificates.k8s.io/v1 (GA in Kubernetes 1.37).

The key is always a stub PKCS#10 request; `pkixPublicKey` and `proofOfPossession` do not exist.
An object created by a pre-1.36 kubelet has no stub when read through v1 (the server moves the
legacy key into annotations we deliberately do not trust, since metadata stays mutable). Such
a request gets a key error pointing at the fix: read it through v1beta1.
"""

from __future__ import annotations

from collections.abc import Mapping

from meshtool.api import keys, request, wire
from meshtool.api.types import PodCertRequest

VERSION = "v1"
API_VERSION = f"{wire.GROUP}/{VERSION}"
_NO_STUB = (
    "spec.stubPKCS10Request is empty; the request was probably created by a pre-1.36 kubelet "
    "with a legacy pkixPublicKey, which only certificates.k8s.io/v1beta1 shows"
)


def needs_legacy_view(request: PodCertRequest) -> bool:
    """True for a request whose key only the v1beta1 view shows (a pre-1.36 kubelet's)."""
    return request.public_key is None and request.key_error == _NO_STUB


def parse(obj: Mapping[str, object]) -> PodCertRequest:
    return request.parse(obj, api_version=API_VERSION, read_key=_read_key, annotations=True)


def _read_key(spec: request.Spec) -> keys.KeyInfo:
    stub = spec.optional_string("stubPKCS10Request")
    return keys.from_stub(stub) if stub is not None else keys.missing(_NO_STUB)
