"""`meshtool.workload.tls` over real TLS on loopback: each peer is verified with the bundle of its
own trust domain, never a merged store; Ed25519 and ECDSA CAs (made and issued by meshtool.pki)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from OpenSSL import SSL

from meshtool.clock import SystemClock
from meshtool.pki import ca as pki_ca
from meshtool.workload import folder, peer, svid, tls

from .workload_pki import Folder, make_ca, root_pem
from .workload_pki import svid as issue_svid

A, B, C = "a.example", "b.example", "c.example"
SERVER_ID = f"spiffe://{B}/ns/demo/sa/server"
ALICE, AMOS = f"spiffe://{A}/ns/demo/sa/alice", f"spiffe://{A}/ns/demo/sa/amos"
BOB = f"spiffe://{B}/ns/demo/sa/bob"


@pytest.fixture(params=["ed25519", "ecdsa-p256"])
def key_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cas(key_type: str) -> dict[str, pki_ca.CA]:
    return {td: make_ca(td, key_type) for td in (A, B, C)}


class Server:
    """A loopback TLS server on a followed credential folder; it answers each connection with
    one line: `ok <SPIFFE ID>` or `refused <reason>`."""

    def __init__(self, root: Path, allowed: peer.Allowed) -> None:
        self.files = Folder(root)
        self.allowed = allowed
        self.source = folder.follow(
            folder.in_folder(str(root)),
            lambda state: tls.server_context(state, request_client_cert=True),
            str(root),
        )
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return  # closed: the test is over
            with sock:
                self._answer(sock)

    def _answer(self, sock: socket.socket) -> None:
        state, context = self.source.current()
        conn = SSL.Connection(context, sock)
        conn.set_accept_state()
        with contextlib.suppress(SSL.Error, OSError):  # the peer left or failed the handshake
            conn.do_handshake()
            conn.sendall(f"{self._judge(conn, state)}\n".encode())
            conn.shutdown()

    def _judge(self, conn: SSL.Connection, state: folder.State) -> str:
        try:
            now = SystemClock().now()
            return f"ok {tls.verify_client(conn, state=state, allowed=self.allowed, now=now)}"
        except svid.PeerRejected as exc:
            return f"refused {exc}"


@pytest.fixture
def server(tmp_path: Path, cas: dict[str, pki_ca.CA]) -> Iterator[Server]:
    srv = Server(tmp_path / "server", peer.Allowed(ids=frozenset({ALICE}), trust_domains={B}))
    srv.files.write(issue_svid(cas[B], SERVER_ID), **{A: root_pem(cas[A]), B: root_pem(cas[B])})
    assert srv.source.refresh()
    srv.thread.start()
    yield srv
    srv.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
    srv.listener.close()
    srv.thread.join(timeout=5)


def call(port: int, credential: bytes, *, trusting: dict[str, bytes], tmp_path: Path) -> str:
    """Dial the server as a client with `credential`, trusting the server's trust domain B."""
    client = Folder(tmp_path / f"client-{len(list(tmp_path.iterdir()))}")
    client.write(credential, **trusting)
    state = folder.parse(_read(client.root))
    ctx = tls.client_context(state, trust_domain=B)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with ctx.wrap_socket(raw, server_hostname="server.demo.svc") as sock:
        allowed = peer.Allowed(ids=frozenset({SERVER_ID}))
        assert str(tls.verify_server(sock, trust_domain=B, allowed=allowed)) == SERVER_ID
        return sock.recv(4096).decode().strip()


def _read(root: Path) -> dict[str, folder.source.Snapshot]:
    files = folder.in_folder(str(root))()
    return {name: folder.source.snapshot(path) for name, path in files.items()}


def test_each_peer_is_verified_with_its_own_trust_domains_bundle(
    server: Server, cas: dict[str, pki_ca.CA], tmp_path: Path
) -> None:
    trust = {B: root_pem(cas[B])}
    alice = issue_svid(cas[A], ALICE, ed=True)
    bob = issue_svid(cas[B], BOB)
    assert call(server.port, alice, trusting=trust, tmp_path=tmp_path) == f"ok {ALICE}"
    assert call(server.port, bob, trusting=trust, tmp_path=tmp_path) == f"ok {BOB}"


def test_a_peer_of_a_trust_domain_without_a_bundle_is_refused(
    server: Server, cas: dict[str, pki_ca.CA], tmp_path: Path
) -> None:
    carol = issue_svid(cas[C], f"spiffe://{C}/ns/demo/sa/carol")
    answer = call(server.port, carol, trusting={B: root_pem(cas[B])}, tmp_path=tmp_path)
    assert answer == f"refused no trust bundle for trust domain {C!r}"


def test_a_peer_of_b_signed_by_as_root_is_refused_though_as_root_is_loaded(
    server: Server, cas: dict[str, pki_ca.CA], tmp_path: Path
) -> None:
    forged = issue_svid(cas[A], BOB)  # claims trust domain B, chains to A's root
    answer = call(server.port, forged, trusting={B: root_pem(cas[B])}, tmp_path=tmp_path)
    assert answer.startswith(
        f"refused {BOB}: the chain does not verify against the bundle of trust domain {B!r}: "
    )
    assert "not issued by any trust anchor" in answer


def test_the_allow_list_names_ids_and_trust_domains(
    server: Server, cas: dict[str, pki_ca.CA], tmp_path: Path
) -> None:
    amos = issue_svid(cas[A], AMOS)  # in A, whose bundle is there, but only ALICE is allowed
    answer = call(server.port, amos, trusting={B: root_pem(cas[B])}, tmp_path=tmp_path)
    assert answer == f"refused {AMOS} is not an allowed client"


def test_a_kubelet_swap_serves_the_new_svid_and_de_federates_a_removed_trust_domain(
    server: Server, cas: dict[str, pki_ca.CA], tmp_path: Path
) -> None:
    trust = {B: root_pem(cas[B])}
    alice = issue_svid(cas[A], ALICE)
    assert call(server.port, alice, trusting=trust, tmp_path=tmp_path) == f"ok {ALICE}"
    new_svid = issue_svid(cas[B], SERVER_ID)
    server.files.write(new_svid, **{B: root_pem(cas[B])})  # A's file is gone: de-federated
    assert server.source.refresh()
    assert sorted(server.source.current()[0].bundles) == [B]
    answer = call(server.port, alice, trusting=trust, tmp_path=tmp_path)
    assert answer == f"refused no trust bundle for trust domain {A!r}"
    assert (
        served_serial(server.port, cas[B])
        == x509.load_pem_x509_certificates(new_svid[new_svid.index(b"-----BEGIN CERTIFICATE") :])[
            0
        ].serial_number
    )


def served_serial(port: int, ca: pki_ca.CA) -> int:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=root_pem(ca).decode())
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5)) as sock:
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_a_client_trusts_only_the_servers_trust_domain(
    server: Server, cas: dict[str, pki_ca.CA], tmp_path: Path
) -> None:
    alice = issue_svid(cas[A], ALICE)
    with pytest.raises(ssl.SSLCertVerificationError):  # A's bundle alone cannot verify B's server
        call_trusting_only_a(server.port, alice, cas, tmp_path)
    state = folder.parse({})
    with pytest.raises(peer.NoBundle, match=f"no trust bundle for trust domain {B!r}"):
        tls.client_context(state, trust_domain=B)


def call_trusting_only_a(
    port: int, credential: bytes, cas: dict[str, pki_ca.CA], tmp_path: Path
) -> None:
    client = Folder(tmp_path / "client-a")
    client.write(credential, **{A: root_pem(cas[A])})
    ctx = tls.client_context(folder.parse(_read(client.root)), trust_domain=A)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        ctx.wrap_socket(raw, server_hostname="server.demo.svc").close()


def test_a_server_leaf_must_be_in_the_trust_domain_whose_bundle_verified_it(
    cas: dict[str, pki_ca.CA],
) -> None:
    forged = x509.load_pem_x509_certificates(
        issue_svid(cas[A], SERVER_ID).split(b"-----END PRIVATE KEY-----\n")[1]
    )[0]
    allowed = peer.Allowed(ids=frozenset({SERVER_ID}))
    with pytest.raises(svid.PeerRejected, match=f"is not in trust domain {A!r}"):
        peer.check_verified(forged, trust_domain=A, allowed=allowed, usage=svid.SERVER)
