"""Leaves naming their issuer's anchors URL, for the anchorclient and inspect tests."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshtool.api import anchorpaths
from meshtool.clock import Clock
from meshtool.pki import caissuers, capool, issue

SIGNER = "row-major.net/spiffe"
SPIFFE_ID = "spiffe://cluster.local/ns/default/sa/web"


def pool(clock: Clock, key_type: str = "ecdsa-p256", ca_id: str = "1") -> capool.CAPool:
    return capool.new_pool(ca_id=ca_id, name=SIGNER, key_type=key_type, clock=clock)


def leaf_chain(
    ca_pool: capool.CAPool, clock: Clock, *, issuer: str | None
) -> tuple[x509.Certificate, ...]:
    """An SVID chain (leaf, intermediates) whose AIA names `issuer`'s anchors URL (none: no AIA)."""
    extra: tuple[tuple[x509.ExtensionType, bool], ...] = ()
    if issuer is not None:
        extra = ((caissuers.extension(anchorpaths.url(issuer, SIGNER)), False),)
    profile = issue.LeafProfile(
        uris=(SPIFFE_ID,),
        extended_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
        extra_extensions=extra,
    )
    issued = issue.issue_leaf(
        public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        profile=profile,
        max_expiration_seconds=3600,
        ca=ca_pool.signing_ca,
        clock=clock,
    )
    assert isinstance(issued, issue.IssuedLeaf)
    return tuple(x509.load_pem_x509_certificates(issued.chain_pem.encode()))
