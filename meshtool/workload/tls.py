"""TLS contexts from a credential folder's `State`: per-peer trust domain, never a merged store.

Servers (`server_context`) are pyOpenSSL. A server cannot know a client's trust domain before
the handshake, and the stdlib `ssl` module has no verify callback: a server context there can
only verify clients against one store, which would have to merge every trust domain's bundle
(and then a peer of B signed by A's root would pass). So the context requests a client
certificate (`VERIFY_PEER` without `FAIL_IF_NO_PEER_CERT`) and its callback accepts whatever
chain is presented; after the handshake `verify_client` takes the presented chain
(`presented_chain`) and judges it with `peer.verify_chain` against the bundle of the client
leaf's own trust domain. OpenSSL still checks the CertificateVerify (that the client holds the
leaf's key). Session tickets and the session cache are off, so every connection is judged on
its own certificate against the bundles current when it connects.

Clients (`client_context`) are stdlib `ssl`: a client dials a server whose trust domain it
knows, so the context's store is exactly that trust domain's bundle and OpenSSL verifies the
chain in the handshake; `verify_server` then checks the leaf (an SVID of that trust domain, on
the allow-list). Host names are not checked (SNI is still sent). Our credential goes into `ssl`
by path (it cannot load from memory): the resolved file `State` was read from, which
`workload.source` re-reads after building, so the context and the state cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import ssl

from cryptography import x509
from OpenSSL import SSL, crypto

from meshtool.pki import pem
from meshtool.signers import spiffeid
from meshtool.workload import folder, peer, source, svid


def server_context(state: folder.State, *, request_client_cert: bool) -> SSL.Context:
    """A pyOpenSSL server context presenting our credential (TLS 1.2 and 1.3)."""
    if state.credential is None:
        raise source.InvalidMaterial(f"no {folder.CREDENTIAL_BUNDLE} to serve with")
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(SSL.OP_NO_TICKET)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    leaf, *intermediates = state.credential.chain
    try:
        ctx.use_certificate(leaf)
        for cert in intermediates:
            ctx.add_extra_chain_cert(cert)
        ctx.use_privatekey(state.credential.key)  # type: ignore[arg-type]  # not DH/X25519 keys
        ctx.check_privatekey()
    except (SSL.Error, TypeError) as exc:
        raise source.InvalidMaterial(f"OpenSSL refused the credential bundle: {exc}") from None
    if request_client_cert:
        ctx.set_verify(SSL.VERIFY_PEER, _judge_after_handshake)
    return ctx


def _judge_after_handshake(
    conn: SSL.Connection, cert: crypto.X509, errnum: int, depth: int, ok: int
) -> bool:
    """Let any presented chain through TLS; `verify_client` judges it after the handshake."""
    return True


def presented_chain(conn: SSL.Connection) -> list[x509.Certificate]:
    """The client's leaf, then the intermediates it sent (OpenSSL keeps them apart on servers)."""
    leaf = conn.get_peer_certificate()
    if leaf is None:
        raise svid.PeerRejected("no client certificate presented")
    chain = [leaf.to_cryptography()]
    for cert in conn.get_peer_cert_chain() or []:
        if (presented := cert.to_cryptography()) != chain[0]:
            chain.append(presented)
    return chain


def verify_client(
    conn: SSL.Connection, *, state: folder.State, allowed: peer.Allowed, now: dt.datetime
) -> spiffeid.SpiffeId:
    """The SPIFFE ID of the client of a handshaken server connection, or `PeerRejected`."""
    return peer.verify_chain(
        presented_chain(conn), bundles=state.bundles, allowed=allowed, usage=svid.CLIENT, now=now
    )


def client_context(state: folder.State, *, trust_domain: str) -> ssl.SSLContext:
    """A stdlib client context trusting only `trust_domain`'s bundle, presenting our
    credential if the state has one."""
    anchors = peer.bundle_for(state.bundles, trust_domain)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # the server is judged by its SPIFFE ID (`verify_server`)
    ctx.load_verify_locations(cadata=pem.encode(list(anchors)))
    if state.credential_path is not None:
        ctx.load_cert_chain(state.credential_path)  # OpenSSL skips the key block for the chain
    return ctx


def verify_server(
    sock: ssl.SSLSocket, *, trust_domain: str, allowed: peer.Allowed
) -> spiffeid.SpiffeId:
    """The SPIFFE ID of the server of a `client_context(trust_domain=...)` connection."""
    der = sock.getpeercert(binary_form=True)
    if not der:
        raise svid.PeerRejected("the server presented no certificate")
    leaf = x509.load_der_x509_certificate(der)
    return peer.check_verified(leaf, trust_domain=trust_domain, allowed=allowed, usage=svid.SERVER)
