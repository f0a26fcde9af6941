"""PodCertificateRequest objects shaped like the ones kubelets create, for every version.

1.34 kubelets write v1alpha1 with pkixPublicKey + proofOfPossession; 1.35 kubelets write
v1beta1 the same way; 1.36 kubelets write v1beta1 with only stubPKCS10Request; 1.37 kubelets
write v1. Keys are generated once per process (RSA is slow) and shared by api and signer tests.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)

from meshtool.api.types import KeyType, PodCertRequest

PrivateKey = CertificateIssuerPrivateKeyTypes
KEY_TYPES = list(KeyType)
UNSUPPORTED = ("RSA2048", "Ed448", "secp256k1")

NAMESPACE = "ns1"
NAME = "req-abc12"
POD = "web-0"
POD_UID = "11111111-2222-3333-4444-555555555555"
SA = "web"
SA_UID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
NODE = "node-1"
NODE_UID = "99999999-8888-7777-6666-555555555555"
CREATED = "2026-01-01T00:00:00Z"


@functools.cache
def private_key(kind: KeyType | str) -> PrivateKey:
    """A key of one of the six types, or of an unsupported kind named in UNSUPPORTED."""
    makers = {
        KeyType.RSA3072: lambda: rsa.generate_private_key(65537, 3072),
        KeyType.RSA4096: lambda: rsa.generate_private_key(65537, 4096),
        KeyType.ECDSAP256: lambda: ec.generate_private_key(ec.SECP256R1()),
        KeyType.ECDSAP384: lambda: ec.generate_private_key(ec.SECP384R1()),
        KeyType.ECDSAP521: lambda: ec.generate_private_key(ec.SECP521R1()),
        KeyType.ED25519: ed25519.Ed25519PrivateKey.generate,
        "RSA2048": lambda: rsa.generate_private_key(65537, 2048),
        "Ed448": ed448.Ed448PrivateKey.generate,
        "secp256k1": lambda: ec.generate_private_key(ec.SECP256K1()),
    }
    return makers[kind]()  # type: ignore[no-any-return]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def pkix_der(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def stub_csr_der(key: PrivateKey) -> bytes:
    """An empty CSR (no subject, no extensions) self-signed with `key`, as 1.36+ kubelets send."""
    algorithm = (
        None
        if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
        else (hashes.SHA256())
    )
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.DER)


def proof_of_possession(key: PrivateKey, pod_uid: str) -> bytes:
    """The 1.34/1.35 proof: a signature over the pod UID, as the API server verifies it."""
    data = pod_uid.encode()
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
        return key.sign(hashlib.sha256(data).digest(), pss, utils.Prehashed(hashes.SHA256()))
    raise TypeError(type(key))


def pcr(
    *,
    version: str = "v1",
    form: str = "stub",
    key: PrivateKey | None = None,
    signer_name: str = "row-major.net/spiffe",
    annotations: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
    **spec_overrides: Any,
) -> dict[str, Any]:
    """A PCR dict as the API server returns it. `form` is "stub" or "pkix" (with a proof)."""
    key = key or private_key(KeyType.ECDSAP256)
    spec: dict[str, Any] = {
        "signerName": signer_name,
        "podName": POD,
        "podUID": POD_UID,
        "serviceAccountName": SA,
        "serviceAccountUID": SA_UID,
        "nodeName": NODE,
        "nodeUID": NODE_UID,
        "maxExpirationSeconds": 86400,
    }
    if form == "stub":
        spec["stubPKCS10Request"] = b64(stub_csr_der(key))
    else:
        spec["pkixPublicKey"] = b64(pkix_der(key))
        spec["proofOfPossession"] = b64(proof_of_possession(key, POD_UID))
        if version == "v1beta1":
            spec["stubPKCS10Request"] = None  # what a 1.36+ server shows for old objects
    if version != "v1alpha1":
        spec["unverifiedUserAnnotations"] = annotations or {}
    spec.update(spec_overrides)
    obj: dict[str, Any] = {
        "apiVersion": f"certificates.k8s.io/{version}",
        "kind": "PodCertificateRequest",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "uid": "0f0f0f0f-0000-0000-0000-000000000001",
            "resourceVersion": "4711",
            "creationTimestamp": CREATED,
            "generateName": "req-",
        },
        "spec": spec,
    }
    if status is not None:
        obj["status"] = status
    return obj


# Every (version, key form) a kubelet of some release writes.
WIRE_FORMS = [("v1alpha1", "pkix"), ("v1beta1", "pkix"), ("v1beta1", "stub"), ("v1", "stub")]


def certificate_key(request: PodCertRequest) -> CertificatePublicKeyTypes:
    """The request's key, narrowed for `issue_leaf` (tests only use certificate key types)."""
    key = request.public_key
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    return key
