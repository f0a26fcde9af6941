"""PodCertificateRequest bodies exactly as a kubelet writes them, in every wire form.

A kubelet proves it holds the private key in one of two ways, and which one depends on the API
version and the server release:

* **stub** (`stubPKCS10Request`; v1, and v1beta1 on 1.36+): a DER PKCS#10 request with a
  completely empty subject, no attributes or extensions, self-signed by the new key. The
  self-signature is the proof; Go picks the signature algorithm (SHA-256 for RSA and P-256,
  SHA-384 for P-384, SHA-512 for P-521, pure Ed25519) and so do we.
* **pkix** (`pkixPublicKey` + `proofOfPossession`; v1alpha1, and v1beta1 on 1.35): the DER
  SubjectPublicKeyInfo, plus a signature over the ASCII bytes of `spec.podUID`, made as the 1.35
  kubelet makes it: Ed25519 signs the raw bytes; ECDSA (`ecdsa.SignASN1`) and RSA
  (`rsa.SignPSS`, nil options, so the largest salt) sign the SHA-256 digest of them.

Everything here is pure: no I/O, no clock. The kubelet simulator uses it, and so can any test or
benchmark that wants to create PCRs the way a kubelet would without running the simulator.
Byte fields are standard base64 with padding, as in Kubernetes JSON.
"""

from __future__ import annotations

import base64
import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from meshtool.api.types import KeyType

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

GROUP = "certificates.k8s.io"
VERSIONS_NEWEST_FIRST = ("v1", "v1beta1", "v1alpha1")

_CURVES: dict[KeyType, ec.EllipticCurve] = {
    KeyType.ECDSAP256: ec.SECP256R1(),
    KeyType.ECDSAP384: ec.SECP384R1(),
    KeyType.ECDSAP521: ec.SECP521R1(),
}
_RSA_BITS = {KeyType.RSA3072: 3072, KeyType.RSA4096: 4096}
# Go's x509.CreateCertificateRequest default signature hash per curve size.
_CSR_HASH_BY_CURVE: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


class KeyForm(enum.Enum):
    """How the request carries its public key and proof of possession."""

    STUB = "stub"
    PKIX = "pkix"


@dataclass(frozen=True, slots=True)
class PodTarget:
    """Who the certificate is for: the live identities a kubelet copies into the spec."""

    namespace: str
    pod_name: str
    pod_uid: str
    service_account_name: str
    service_account_uid: str
    node_name: str
    node_uid: str


def generate_key(key_type: KeyType) -> PrivateKey:
    """A fresh private key of one of the six types Kubernetes allows."""
    if key_type in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[key_type])
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type])
    return ed25519.Ed25519PrivateKey.generate()


def private_key_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM ("PRIVATE KEY"), the encoding the kubelet writes into the volume."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_der(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def stub_csr(key: PrivateKey) -> bytes:
    """A DER PKCS#10 request with an empty subject and no extensions, signed by `key`."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    return builder.sign(key, _csr_hash(key)).public_bytes(serialization.Encoding.DER)


def _csr_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _CSR_HASH_BY_CURVE[key.curve.name]()
    return hashes.SHA256()


def proof_of_possession(key: PrivateKey, pod_uid: str) -> bytes:
    """The legacy proof: a signature over the ASCII bytes of the pod UID (see module doc)."""
    message = pod_uid.encode("ascii")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    digest = hashlib.sha256(message).digest()
    prehashed = utils.Prehashed(hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(digest, ec.ECDSA(prehashed))
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
    return key.sign(digest, pss, prehashed)


def default_form(version: str, server_minor: int | None = None) -> KeyForm:
    """The form a kubelet of the server's release uses with `version`.

    v1beta1 is the only version with two forms: 1.35 kubelets send pkix, 1.36+ send stubs.
    Without a known minor we assume the newer behaviour.
    """
    if version == "v1alpha1":
        return KeyForm.PKIX
    if version == "v1beta1" and server_minor is not None and server_minor <= 35:
        return KeyForm.PKIX
    return KeyForm.STUB


def check_form(form: KeyForm, version: str) -> None:
    """Raise ValueError for a form `version` lacks (stub needs v1beta1+, pkix at most v1beta1)."""
    if version not in VERSIONS_NEWEST_FIRST:
        raise ValueError(f"unknown PodCertificateRequest version {version!r}")
    if form is KeyForm.STUB and version == "v1alpha1":
        raise ValueError("v1alpha1 has no stubPKCS10Request")
    if form is KeyForm.PKIX and version == "v1":
        raise ValueError("v1 has no pkixPublicKey/proofOfPossession")


def key_fields(form: KeyForm, key: PrivateKey, pod_uid: str) -> dict[str, str]:
    """The spec fields that carry the key, base64-encoded."""
    if form is KeyForm.STUB:
        return {"stubPKCS10Request": _b64(stub_csr(key))}
    return {
        "pkixPublicKey": _b64(public_key_der(key)),
        "proofOfPossession": _b64(proof_of_possession(key, pod_uid)),
    }


def pcr_body(
    form: KeyForm,
    target: PodTarget,
    *,
    version: str,
    signer_name: str,
    key: PrivateKey,
    max_expiration_seconds: int | None = None,
    user_annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The PodCertificateRequest a kubelet would POST for `target` (generateName `req-`).

    `maxExpirationSeconds` is copied only when set (the server defaults it). User annotations
    become `unverifiedUserAnnotations`; v1alpha1 has no such field and drops them, as 1.34 did.
    """
    check_form(form, version)
    spec: dict[str, Any] = {
        "signerName": signer_name,
        "podName": target.pod_name,
        "podUID": target.pod_uid,
        "serviceAccountName": target.service_account_name,
        "serviceAccountUID": target.service_account_uid,
        "nodeName": target.node_name,
        "nodeUID": target.node_uid,
        **key_fields(form, key, target.pod_uid),
    }
    if max_expiration_seconds is not None:
        spec["maxExpirationSeconds"] = max_expiration_seconds
    if user_annotations and version != "v1alpha1":
        spec["unverifiedUserAnnotations"] = dict(user_annotations)
    return {
        "apiVersion": f"{GROUP}/{version}",
        "kind": "PodCertificateRequest",
        "metadata": _metadata(target),
        "spec": spec,
    }


def _metadata(target: PodTarget) -> dict[str, Any]:
    # The 1.36+ kubelet's owner reference (PR #137008): apiVersion "v1", no controller flag.
    owner = {"apiVersion": "v1", "kind": "Pod", "name": target.pod_name, "uid": target.pod_uid}
    return {"namespace": target.namespace, "generateName": "req-", "ownerReferences": [owner]}


def target_for(
    pod: Mapping[str, Any], service_account: Mapping[str, Any], node: Mapping[str, Any]
) -> PodTarget:
    """A `PodTarget` from the live pod, its ServiceAccount and its Node (plain API dicts)."""
    return PodTarget(
        namespace=pod["metadata"]["namespace"],
        pod_name=pod["metadata"]["name"],
        pod_uid=pod["metadata"]["uid"],
        service_account_name=service_account["metadata"]["name"],
        service_account_uid=service_account["metadata"]["uid"],
        node_name=node["metadata"]["name"],
        node_uid=node["metadata"]["uid"],
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
