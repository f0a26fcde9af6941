"""Every key type x signer x key source x CA type issues a certificate the API server accepts
and a verifier trusts, with exactly the extensions the signer promises."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID
from OpenSSL import crypto

from meshtool.api import anchorpaths, decisions, keys, status, validation
from meshtool.api.types import KeyType, PodCertRequest, PodView, ServiceView
from meshtool.clock import FakeClock
from meshtool.pki import caissuers, capool, podidentity
from meshtool.signers import names
from meshtool.signers.base import Signer
from meshtool.signers.podidentity import PodIdentitySigner
from meshtool.signers.servicedns import ServiceDnsSigner
from meshtool.signers.spiffe import SpiffeSigner
from meshtool.testing import pcrforms

from . import requests
from .conftest import FakeView

ISSUER = "https://issuer.example.org/cluster-1"
SIGNERS: dict[str, Signer] = {
    "service-dns": ServiceDnsSigner(
        issuer_info=caissuers.extension(anchorpaths.url(ISSUER, names.SERVICE_DNS))
    ),
    "spiffe": SpiffeSigner(
        trust_domain="example.org",
        issuer_info=caissuers.extension(anchorpaths.url(ISSUER, names.SPIFFE)),
    ),
    "pod-identity": PodIdentitySigner(
        issuer_info=caissuers.extension(anchorpaths.url(ISSUER, names.POD_IDENTITY))
    ),
}
T = requests.TARGET
DNS_NAMES = {"api.ns1.svc", "web.ns1.svc"}
SPIFFE_IDS = {
    "spiffe": "spiffe://example.org/ns/ns1/sa/web",
    "pod-identity": "spiffe://cluster.local/ns/ns1/sa/web",
}
EKUS = {
    "service-dns": [ExtendedKeyUsageOID.SERVER_AUTH],
    "spiffe": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    "pod-identity": [ExtendedKeyUsageOID.CLIENT_AUTH],
}


STANDARD_OIDS = {
    x509.SubjectAlternativeName.oid,
    x509.KeyUsage.oid,
    x509.BasicConstraints.oid,
    x509.ExtendedKeyUsage.oid,
    x509.SubjectKeyIdentifier.oid,
    x509.AuthorityKeyIdentifier.oid,
    x509.AuthorityInformationAccess.oid,
}


def _view() -> FakeView:
    labels = {"app": "web", "tier": "front"}
    pod = PodView(T.namespace, T.pod_name, T.pod_uid, labels, T.service_account_name, T.node_name)
    services = [
        ServiceView(T.namespace, "web", "ClusterIP", {"app": "web"}),
        ServiceView(T.namespace, "api", "LoadBalancer", {"app": "web", "tier": "front"}),
    ]
    return FakeView([pod], services)


@pytest.mark.parametrize("ca_type", capool.KEY_TYPES)
@pytest.mark.parametrize("source", requests.FORMS)
@pytest.mark.parametrize("signer_id", SIGNERS)
@pytest.mark.parametrize("key_type", list(KeyType), ids=lambda k: k.value)
def test_issue_verify_and_inspect(
    pools: dict[str, capool.CAPool],
    clock: FakeClock,
    key_type: KeyType,
    signer_id: str,
    source: str,
    ca_type: str,
) -> None:
    signer, pool = SIGNERS[signer_id], pools[ca_type]
    request = requests.request(signer_name=signer.signer_name, key_type=key_type, source=source)
    decision = signer.decide(request, view=_view(), pool=pool, clock=clock)
    assert isinstance(decision, decisions.Issued), decision

    body = status.status_body(decision, clock=clock)
    assert validation.issued_status_problems(body, request=request, now=clock.now()) == []

    chain = x509.load_pem_x509_certificates(decision.chain_pem.encode())
    leaf = chain[0]
    assert keys.spki_der(leaf.public_key()) == pcrforms.public_key_der(
        requests.private_key(key_type)
    )
    _verify(signer_id, pool, chain, clock.now())
    _check_extensions(signer_id, leaf, request)


def _verify(
    signer_id: str, pool: capool.CAPool, chain: list[x509.Certificate], now: dt.datetime
) -> None:
    root = pool.signing_ca.root
    leaf, intermediates = chain[0], chain[1:]
    if pool.signing_ca.id == "ca-ecdsa-p256":
        builder = verification.PolicyBuilder().store(verification.Store([root])).time(now)
        if signer_id == "service-dns":
            for name in DNS_NAMES:
                builder.build_server_verifier(x509.DNSName(name)).verify(leaf, intermediates)
        else:
            verified = builder.build_client_verifier().verify(leaf, intermediates)
            assert verified.subjects == [x509.UniformResourceIdentifier(SPIFFE_IDS[signer_id])]
        return
    # cryptography's Web PKI verifier refuses Ed25519 CAs, so let OpenSSL build the path.
    store = crypto.X509Store()
    store.add_cert(crypto.X509.from_cryptography(root))
    store.set_time(now.replace(tzinfo=None))
    context = crypto.X509StoreContext(
        store,
        crypto.X509.from_cryptography(leaf),
        [crypto.X509.from_cryptography(c) for c in intermediates],
    )
    path = context.get_verified_chain()
    assert path[-1].to_cryptography() == root


def _check_extensions(signer_id: str, leaf: x509.Certificate, request: PodCertRequest) -> None:
    assert leaf.subject == x509.Name([])
    exts = leaf.extensions
    san = exts.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    dns = set(san.value.get_values_for_type(x509.DNSName))
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    if signer_id == "service-dns":
        assert (dns, uris) == (DNS_NAMES, [])
    else:
        assert (dns, uris) == (set(), [SPIFFE_IDS[signer_id]])
    assert len(list(san.value)) == len(dns) + len(uris)

    usage = exts.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not usage.value.key_cert_sign and not usage.value.crl_sign
    basic = exts.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    assert list(exts.get_extension_for_class(x509.ExtendedKeyUsage).value) == EKUS[signer_id]
    aia = exts.get_extension_for_class(x509.AuthorityInformationAccess)
    assert not aia.critical
    assert caissuers.urls(leaf) == (
        f"{ISSUER}/.well-known/meshtool/signers/{request.signer_name}/anchors.p7c",
    )
    extra = {podidentity.OID} if signer_id == "pod-identity" else set()
    assert {ext.oid for ext in exts} == STANDARD_OIDS | extra

    identity = podidentity.from_certificate(leaf)
    if signer_id != "pod-identity":
        assert identity is None
        return
    assert identity == podidentity.PodIdentity(
        namespace=T.namespace,
        service_account_name=T.service_account_name,
        service_account_uid=T.service_account_uid,
        pod_name=T.pod_name,
        pod_uid=T.pod_uid,
        node_name=T.node_name,
        node_uid=T.node_uid,
    )
    assert not exts.get_extension_for_oid(podidentity.OID).critical
    assert request.signer_name == names.POD_IDENTITY


@pytest.mark.parametrize("ca_type", capool.KEY_TYPES)
def test_verification_is_not_vacuous(
    pools: dict[str, capool.CAPool], clock: FakeClock, ca_type: str
) -> None:
    """A chain from one CA must not verify against another CA of the same key type."""
    signer = SIGNERS["spiffe"]
    request = requests.request(signer_name=signer.signer_name)
    decision = signer.decide(request, view=_view(), pool=pools[ca_type], clock=clock)
    assert isinstance(decision, decisions.Issued)
    chain = x509.load_pem_x509_certificates(decision.chain_pem.encode())
    stranger = capool.new_pool(
        ca_id=pools[ca_type].signing_ca.id, name="other", key_type=ca_type, clock=clock
    )
    with pytest.raises((verification.VerificationError, crypto.X509StoreContextError)):
        _verify("spiffe", stranger, chain, clock.now())
    with pytest.raises((verification.VerificationError, crypto.X509StoreContextError)):
        _verify("spiffe", pools[ca_type], chain, clock.now() + dt.timedelta(days=2))


@pytest.mark.parametrize("signer", [ServiceDnsSigner(), SpiffeSigner(), PodIdentitySigner()])
def test_without_a_cluster_issuer_a_leaf_names_none(
    pools: dict[str, capool.CAPool], clock: FakeClock, signer: Signer
) -> None:
    request = requests.request(signer_name=signer.signer_name, key_type=KeyType.ECDSAP256)
    decision = signer.decide(request, view=_view(), pool=pools["ecdsa-p256"], clock=clock)
    assert isinstance(decision, decisions.Issued), decision
    leaf = x509.load_pem_x509_certificate(decision.chain_pem.encode())
    assert caissuers.urls(leaf) == ()
