"""Chain verification with real verifiers, for the integration tests.

ECDSA and RSA CAs: cryptography's X.509 verifier (`PolicyBuilder`), as a server verifier with the
expected DNS name or as a client verifier. Ed25519 CAs, which that verifier refuses
(shared/docs/verified-facts.md): OpenSSL's store verification through pyOpenSSL.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509 import verification
from OpenSSL import crypto

from meshtool.pki import keys, pem


def credential(path: Path) -> pem.Credential:
    cred = pem.credential(path.read_bytes())
    leaf = cred.chain[0]
    assert keys.fingerprint(leaf.public_key()) == keys.fingerprint(cred.key.public_key()), (
        "the credential bundle's key does not match its leaf"
    )
    return cred


def verify(
    chain: tuple[x509.Certificate, ...], anchors_pem: bytes, *, dns: str | None = None
) -> None:
    """Raise unless `chain` (leaf first) verifies against the PEM trust anchors."""
    anchors = pem.certificates(anchors_pem)
    assert anchors, "the trust bundle is empty"
    if isinstance(anchors[0].public_key(), ed25519.Ed25519PublicKey):
        _openssl(chain, anchors)
        return
    builder = (
        verification.PolicyBuilder()
        .store(verification.Store(list(anchors)))
        .time(dt.datetime.now(dt.UTC))
    )
    if dns is not None:
        builder.build_server_verifier(x509.DNSName(dns)).verify(chain[0], list(chain[1:]))
    else:
        builder.build_client_verifier().verify(chain[0], list(chain[1:]))


def _openssl(chain: tuple[x509.Certificate, ...], anchors: tuple[x509.Certificate, ...]) -> None:
    store = crypto.X509Store()
    for anchor in anchors:
        store.add_cert(crypto.X509.from_cryptography(anchor))
    untrusted = [crypto.X509.from_cryptography(c) for c in chain[1:]]
    leaf = crypto.X509.from_cryptography(chain[0])
    crypto.X509StoreContext(store, leaf, untrusted).verify_certificate()
