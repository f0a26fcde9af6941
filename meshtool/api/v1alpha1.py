"""PodCertificateRequest certificates.k8s.io/v1alpha1 (Kubernetes 1.34 only).

The key is a required `pkixPublicKey` (with `proofOfPossession`, checked by the API server).
There is no `unverifiedUserAnnotations`; a stray one is ignored, as the server would drop it.
"""

from __future__ import annotations

from collections.abc import Mapping

from meshtool.api import keys, request, wire
from meshtool.api.types import PodCertRequest

VERSION = "v1alpha1"
API_VERSION = f"{wire.GROUP}/{VERSION}"


def parse(obj: Mapping[str, object]) -> PodCertRequest:
    return request.parse(obj, api_version=API_VERSION, read_key=_read_key, annotations=False)


def _read_key(spec: request.Spec) -> keys.KeyInfo:
    return keys.from_pkix(spec.string("pkixPublicKey"))
