"""PodCertificateRequest certificates.k8s.io/v1beta1 (Kubernetes 1.35 on; deprecated in 1.37).

Two key forms share this version. 1.35 kubelets send `pkixPublicKey` + `proofOfPossession`;
1.36+ kubelets send only `stubPKCS10Request`, and a 1.36+ server may send
`stubPKCS10Request: null` for objects created before the upgrade. We take the stub when it is
non-empty and fall back to `pkixPublicKey` otherwise. A request with neither is not
malformed to us but unusable: it becomes a key error, which the signer turns into a denial
the user can see on the pod.
"""

from __future__ import annotations

from collections.abc import Mapping

from meshtool.api import keys, request, wire
from meshtool.api.types import PodCertRequest

VERSION = "v1beta1"
API_VERSION = f"{wire.GROUP}/{VERSION}"


def parse(obj: Mapping[str, object]) -> PodCertRequest:
    return request.parse(obj, api_version=API_VERSION, read_key=_read_key, annotations=True)


def _read_key(spec: request.Spec) -> keys.KeyInfo:
    stub = spec.optional_string("stubPKCS10Request")
    if stub is not None:
        return keys.from_stub(stub)
    pkix = spec.optional_string("pkixPublicKey")
    if pkix is not None:
        return keys.from_pkix(pkix)
    return keys.missing("neither spec.stubPKCS10Request nor spec.pkixPublicKey is set")
