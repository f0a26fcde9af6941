"""Parsed requests for signer tests, built the way kubelets build them.

The PCR bodies come from `meshtool.testing.pcrforms` (what a kubelet POSTs) plus the metadata
the API server adds; they then go through `meshtool.api.pcr.parse`, exactly as in the
controller. Keys are generated once per process, since RSA generation is slow.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from meshtool.api import pcr
from meshtool.api.types import KeyType, PodCertRequest
from meshtool.testing import pcrforms

TARGET = pcrforms.PodTarget(
    namespace="ns1",
    pod_name="web-0",
    pod_uid="11111111-2222-3333-4444-555555555555",
    service_account_name="web",
    service_account_uid="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    node_name="node-1",
    node_uid="99999999-8888-7777-6666-555555555555",
)
FORMS = {"stub": ("v1", pcrforms.KeyForm.STUB), "pkix": ("v1beta1", pcrforms.KeyForm.PKIX)}


@functools.cache
def private_key(key_type: KeyType) -> pcrforms.PrivateKey:
    return pcrforms.generate_key(key_type)


@functools.cache
def unsupported_key(kind: str) -> PrivateKeyTypes:
    makers = {
        "RSA2048": lambda: rsa.generate_private_key(65537, 2048),
        "Ed448": ed448.Ed448PrivateKey.generate,
        "secp256k1": lambda: ec.generate_private_key(ec.SECP256K1()),
    }
    return makers[kind]()  # type: ignore[no-any-return]


def body(
    *,
    signer_name: str,
    key_type: KeyType = KeyType.ECDSAP256,
    source: str = "stub",
    annotations: dict[str, str] | None = None,
    max_expiration_seconds: int | None = None,
) -> dict[str, Any]:
    """A PCR as the API server returns it after a kubelet created it."""
    version, form = FORMS[source]
    obj = pcrforms.pcr_body(
        form,
        TARGET,
        version=version,
        signer_name=signer_name,
        key=private_key(key_type),
        max_expiration_seconds=max_expiration_seconds,
        user_annotations=annotations,
    )
    obj["metadata"].update(name="req-abc12", uid="uid-1", resourceVersion="7")
    return obj


def request(*, signer_name: str, **kwargs: Any) -> PodCertRequest:
    return pcr.parse(body(signer_name=signer_name, **kwargs))


def request_with_unsupported_key(*, signer_name: str, kind: str) -> PodCertRequest:
    obj = body(signer_name=signer_name, source="pkix")
    spki = (
        unsupported_key(kind)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    obj["spec"]["pkixPublicKey"] = base64.b64encode(spki).decode()
    return pcr.parse(obj)
