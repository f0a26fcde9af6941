"""PCR bodies in each wire form, checked the way kube-apiserver checks them."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from meshtool.api.types import KeyType
from meshtool.testing import pcrforms
from meshtool.testing.pcrforms import KeyForm

TARGET = pcrforms.PodTarget(
    namespace="ns1",
    pod_name="pod-a",
    pod_uid="0d9c2a8e-4a51-4a8e-9d5e-111111111111",
    service_account_name="sa",
    service_account_uid="sa-uid",
    node_name="node-1",
    node_uid="node-uid",
)
ALL_TYPES = list(KeyType)


@pytest.fixture(scope="module")
def keys() -> dict[KeyType, pcrforms.PrivateKey]:
    return {kt: pcrforms.generate_key(kt) for kt in ALL_TYPES}


def test_generate_key_types(keys):
    assert keys[KeyType.RSA3072].key_size == 3072  # type: ignore[union-attr]
    assert keys[KeyType.RSA4096].key_size == 4096  # type: ignore[union-attr]
    assert isinstance(keys[KeyType.ECDSAP384], ec.EllipticCurvePrivateKey)
    assert keys[KeyType.ECDSAP521].curve.name == "secp521r1"  # type: ignore[union-attr]
    assert isinstance(keys[KeyType.ED25519], ed25519.Ed25519PrivateKey)


def verify_proof(public_key, proof: bytes, pod_uid: str) -> None:
    """What the apiserver's legacy path verifies (Go VerifyPSS with nil options = auto salt)."""
    message = pod_uid.encode()
    digest = hashlib.sha256(message).digest()
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(proof, message)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(proof, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    else:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        public_key.verify(proof, digest, pss, utils.Prehashed(hashes.SHA256()))


@pytest.mark.parametrize("key_type", ALL_TYPES, ids=lambda k: k.value)
def test_pkix_body_proof_verifies(keys, key_type):
    key = keys[key_type]
    body = pcrforms.pcr_body(
        KeyForm.PKIX, TARGET, version="v1beta1", signer_name="example.com/a", key=key
    )
    spec = body["spec"]
    assert "stubPKCS10Request" not in spec
    public_key = serialization.load_der_public_key(base64.b64decode(spec["pkixPublicKey"]))
    assert public_key == key.public_key()
    proof = base64.b64decode(spec["proofOfPossession"])
    verify_proof(public_key, proof, TARGET.pod_uid)
    with pytest.raises(InvalidSignature):
        verify_proof(public_key, proof, TARGET.pod_uid + "x")


def test_ecdsa_proof_is_over_the_digest_not_twice_hashed(keys):
    key = keys[KeyType.ECDSAP256]
    proof = pcrforms.proof_of_possession(key, TARGET.pod_uid)
    # Signing the SHA-256 digest as a prehash equals signing the raw UID with ECDSA(SHA256).
    key.public_key().verify(proof, TARGET.pod_uid.encode(), ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr, call-arg]


def test_rsa_proof_uses_maximum_salt(keys):
    key = keys[KeyType.RSA3072]
    assert isinstance(key, rsa.RSAPrivateKey)
    proof = pcrforms.proof_of_possession(key, TARGET.pod_uid)
    digest = hashlib.sha256(TARGET.pod_uid.encode()).digest()
    max_salt = key.key_size // 8 - 32 - 2
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=max_salt)
    key.public_key().verify(proof, digest, pss, utils.Prehashed(hashes.SHA256()))


CSR_HASH = {
    KeyType.RSA3072: hashes.SHA256,
    KeyType.RSA4096: hashes.SHA256,
    KeyType.ECDSAP256: hashes.SHA256,
    KeyType.ECDSAP384: hashes.SHA384,
    KeyType.ECDSAP521: hashes.SHA512,
}


@pytest.mark.parametrize("key_type", ALL_TYPES, ids=lambda k: k.value)
@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_stub_body_is_an_empty_self_signed_csr(keys, key_type, version):
    key = keys[key_type]
    body = pcrforms.pcr_body(
        KeyForm.STUB, TARGET, version=version, signer_name="example.com/a", key=key
    )
    spec = body["spec"]
    assert "pkixPublicKey" not in spec and "proofOfPossession" not in spec
    csr = x509.load_der_x509_csr(base64.b64decode(spec["stubPKCS10Request"]))
    assert csr.is_signature_valid
    assert csr.public_key() == key.public_key()
    assert csr.subject == x509.Name([])
    assert len(csr.extensions) == 0
    assert list(csr.attributes) == []
    expected = CSR_HASH.get(key_type)
    if expected is None:
        assert csr.signature_hash_algorithm is None
    else:
        assert isinstance(csr.signature_hash_algorithm, expected)


def test_body_shape_matches_the_kubelet(keys):
    body = pcrforms.pcr_body(
        KeyForm.STUB,
        TARGET,
        version="v1",
        signer_name="example.com/a",
        key=keys[KeyType.ED25519],
        max_expiration_seconds=3600,
        user_annotations={"example.com/x": "y"},
    )
    assert body["apiVersion"] == "certificates.k8s.io/v1"
    assert body["kind"] == "PodCertificateRequest"
    assert body["metadata"] == {
        "namespace": "ns1",
        "generateName": "req-",
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": "pod-a", "uid": TARGET.pod_uid}
        ],
    }
    spec = body["spec"]
    assert spec["signerName"] == "example.com/a"
    assert (spec["podName"], spec["podUID"]) == ("pod-a", TARGET.pod_uid)
    assert (spec["serviceAccountName"], spec["serviceAccountUID"]) == ("sa", "sa-uid")
    assert (spec["nodeName"], spec["nodeUID"]) == ("node-1", "node-uid")
    assert spec["maxExpirationSeconds"] == 3600
    assert spec["unverifiedUserAnnotations"] == {"example.com/x": "y"}


def test_defaults_are_left_to_the_server(keys):
    body = pcrforms.pcr_body(
        KeyForm.PKIX,
        TARGET,
        version="v1alpha1",
        signer_name="e.com/a",
        key=keys[KeyType.ED25519],
        user_annotations={"e.com/x": "y"},
    )
    assert "maxExpirationSeconds" not in body["spec"]
    assert "unverifiedUserAnnotations" not in body["spec"]  # v1alpha1 has no such field


@pytest.mark.parametrize(
    ("form", "version"),
    [(KeyForm.STUB, "v1alpha1"), (KeyForm.PKIX, "v1"), (KeyForm.STUB, "v2")],
)
def test_forms_a_version_lacks_are_refused(form, version):
    with pytest.raises(ValueError):
        pcrforms.check_form(form, version)


@pytest.mark.parametrize(
    ("version", "minor", "form"),
    [
        ("v1", 37, KeyForm.STUB),
        ("v1beta1", 37, KeyForm.STUB),
        ("v1beta1", 36, KeyForm.STUB),
        ("v1beta1", 35, KeyForm.PKIX),
        ("v1beta1", None, KeyForm.STUB),
        ("v1alpha1", 34, KeyForm.PKIX),
    ],
)
def test_default_form(version, minor, form):
    assert pcrforms.default_form(version, minor) is form


def test_target_for_reads_live_objects():
    pod = {"metadata": {"namespace": "ns1", "name": "pod-a", "uid": "p"}}
    sa = {"metadata": {"name": "sa", "uid": "s"}}
    node = {"metadata": {"name": "node-1", "uid": "n"}}
    target = pcrforms.target_for(pod, sa, node)
    assert target == pcrforms.PodTarget("ns1", "pod-a", "p", "sa", "s", "node-1", "n")


def test_private_key_pem_is_pkcs8(keys):
    pem = pcrforms.private_key_pem(keys[KeyType.ECDSAP256])
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    loaded = serialization.load_pem_private_key(pem, password=None)
    assert loaded.public_key() == keys[KeyType.ECDSAP256].public_key()
