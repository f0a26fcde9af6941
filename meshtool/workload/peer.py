"""Judging a TLS peer: its chain against the bundle of *its own* trust domain, then the allow-list.

A bundle names no trust domain, so bundles are kept as a map trust domain -> anchors and are
never merged (SPIFFE Federation, filesystem delivery). `verify_chain` reads the peer leaf's
SPIFFE ID first (`svid.svid_id`), takes the anchors of exactly that ID's trust domain, fails
when there are none (an unknown or de-federated trust domain), and only then checks the chain
with `meshtool.pki.chain.verify` (Ed25519, ECDSA, RSA; validity times, CA constraints, path
lengths). So a leaf that claims trust domain B but chains to A's root is refused even when A's
root is loaded. `check_verified` is the same judgement for a leaf whose chain OpenSSL already
verified against one trust domain's bundle (a client context that trusts only that bundle).

`Allowed` is the authorization: SPIFFE IDs and whole trust domains. It permits nothing when
empty; callers choose their default (the demo's: our own trust domain). Not checked, as
`pki.chain` documents: name constraints, policies, revocation. That the peer holds the leaf's
key is the TLS handshake's CertificateVerify, which OpenSSL checks regardless.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509

from meshtool.pki import chain as pki_chain
from meshtool.signers import spiffeid
from meshtool.workload import svid


class NoBundle(svid.PeerRejected):
    """The peer's trust domain has no bundle here: unknown, or de-federated."""


@dataclass(frozen=True, slots=True)
class Allowed:
    """Who may connect: any of `ids` (SPIFFE IDs), or anyone in one of `trust_domains`."""

    ids: frozenset[str] = frozenset()
    trust_domains: frozenset[str] = frozenset()

    @classmethod
    def of(cls, *, ids: Collection[str] = (), trust_domains: Collection[str] = ()) -> Allowed:
        """Validated: every ID a workload SPIFFE ID, every trust domain well-formed."""
        for text in ids:
            svid.parse_id(text)
        for td in trust_domains:
            try:
                spiffeid.validate_trust_domain(td)
            except spiffeid.InvalidSpiffeId as exc:
                raise svid.PeerRejected(f"invalid trust domain {td!r}: {exc}") from None
        return cls(frozenset(ids), frozenset(trust_domains))

    def permits(self, spiffe_id: spiffeid.SpiffeId) -> bool:
        return str(spiffe_id) in self.ids or spiffe_id.trust_domain in self.trust_domains


def verify_chain(
    chain: Sequence[x509.Certificate],
    *,
    bundles: Mapping[str, Sequence[x509.Certificate]],
    allowed: Allowed,
    usage: x509.ObjectIdentifier,
    now: dt.datetime,
) -> spiffeid.SpiffeId:
    """The SPIFFE ID of a presented chain (leaf first, then the intermediates the peer sent)
    that leads to the bundle of the leaf's trust domain and is allowed; else `PeerRejected`."""
    if not chain:
        raise svid.PeerRejected("no certificate presented")
    spiffe_id = svid.svid_id(chain[0])
    anchors = bundle_for(bundles, spiffe_id.trust_domain)
    try:
        pki_chain.verify(chain, anchors, now=now)
    except pki_chain.ChainError as exc:
        raise svid.PeerRejected(
            f"{spiffe_id}: the chain does not verify against the bundle of trust domain "
            f"{spiffe_id.trust_domain!r}: {exc}"
        ) from None
    svid.require_usage(chain[0], usage)
    return _authorize(spiffe_id, allowed, usage)


def check_verified(
    leaf: x509.Certificate, *, trust_domain: str, allowed: Allowed, usage: x509.ObjectIdentifier
) -> spiffeid.SpiffeId:
    """The SPIFFE ID of a leaf whose chain OpenSSL verified against `trust_domain`'s bundle
    alone: the leaf must be an SVID of that trust domain, and allowed."""
    spiffe_id = svid.svid_id(leaf)
    if spiffe_id.trust_domain != trust_domain:
        raise svid.PeerRejected(
            f"{spiffe_id} is not in trust domain {trust_domain!r}, whose bundle verified it"
        )
    svid.require_usage(leaf, usage)
    return _authorize(spiffe_id, allowed, usage)


def bundle_for(
    bundles: Mapping[str, Sequence[x509.Certificate]], trust_domain: str
) -> Sequence[x509.Certificate]:
    anchors = bundles.get(trust_domain)
    if not anchors:
        raise NoBundle(f"no trust bundle for trust domain {trust_domain!r}")
    return anchors


def _authorize(
    spiffe_id: spiffeid.SpiffeId, allowed: Allowed, usage: x509.ObjectIdentifier
) -> spiffeid.SpiffeId:
    if not allowed.permits(spiffe_id):
        role = "client" if usage == svid.CLIENT else "server"
        raise svid.PeerRejected(f"{spiffe_id} is not an allowed {role}")
    return spiffe_id
