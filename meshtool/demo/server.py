"""`demo-server`: an HTTPS server that serves pod certificates and checks SPIFFE clients.

Endpoints: `GET /healthz` answers `ok`. `GET /spiffe-echo` (with SPIFFE client support on)
answers `Client Identity: spiffe://...` for an acceptable client SVID and 401 with a one-line
reason otherwise. A client certificate from the pod-identity signer also carries the Kubernetes
PodIdentity extension: the answer (and the log line) then adds the pod and node it names,
`Client Identity: spiffe://...; pod <namespace>/<pod> on node <node>`.

How a client is judged. TLS is pyOpenSSL, because the stdlib `ssl` module has no verify
callback. With SPIFFE client support on, the server requests a client certificate
(`VERIFY_PEER` without `FAIL_IF_NO_PEER_CERT`) and its verify callback accepts whatever chain is
presented, so the handshake completes (OpenSSL still checks the client's CertificateVerify,
i.e. that it holds the leaf's key). Every `/spiffe-echo` request then judges the connection's
peer in Python: no certificate, a chain that does not lead to the SPIFFE trust bundle (another
CA, expired, ...) or a leaf that fails the SVID, trust domain or allow-list checks
(`spiffe.verify_client_chain`) is answered with 401 and the reason. `/healthz` needs no client
certificate. Without SPIFFE client support no certificate is requested.

Hot reload. Every accepted socket gets an `SSL.Connection` on `TlsSource.current()` at accept
time and is handshaken on its own thread. The `ServerTls` it was accepted with (context and
trust anchors) stays with the connection, so open keep-alive connections keep the credentials
and the bundle they started with while new connections get new ones. A poller thread refreshes
the source every `reload_interval` seconds. Session tickets (`OP_NO_TICKET`) and the session
cache are off, so no session is ever resumed and each connection authenticates against the
bundle current when it connects. (Under TLS 1.3 OpenSSL then still sends a stateful ticket
that can never be honoured; pyOpenSSL has no `set_num_tickets(0)`.) TLS 1.2 and 1.3.

Plumbing (blocking pyOpenSSL sockets with kernel timeouts, the connection as a stream for
`http.server`, error reasons) is `meshtool.demo.tlsstream`. Connections end with a close_notify.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import socketserver
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography import x509
from OpenSSL import SSL, crypto

from meshtool.clock import Clock, SystemClock
from meshtool.demo import credentials, spiffe, tlsstream
from meshtool.pki import podidentity
from meshtool.signers.spiffe import DEFAULT_TRUST_DOMAIN

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class ServerSettings:
    listen: tuple[str, int]
    server_creds: str
    spiffe_trust_bundle: str | None  # set: request and verify SPIFFE client certificates
    spiffe_trust_domain: str = DEFAULT_TRUST_DOMAIN
    allowed_client_ids: frozenset[str] = frozenset()
    reload_interval: float = 1.0


@dataclass(frozen=True, slots=True)
class ServerTls:
    """What a connection is accepted with and keeps for its life."""

    context: SSL.Context
    anchors: tuple[x509.Certificate, ...]  # the SPIFFE trust bundle; () without client support


@dataclass(frozen=True, slots=True)
class TlsConnection:
    """An accepted connection: `http.server`'s request object."""

    conn: SSL.Connection
    sock: socket.socket
    tls: ServerTls


def tls_source(settings: ServerSettings) -> credentials.TlsSource[ServerTls]:
    paths = [settings.server_creds]
    if settings.spiffe_trust_bundle is not None:
        paths.append(settings.spiffe_trust_bundle)
    return credentials.TlsSource(paths=paths, build=_build_context)


def _build_context(snaps: Sequence[credentials.Snapshot]) -> credentials.Loaded[ServerTls]:
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(SSL.OP_NO_TICKET)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    parts = [credentials.load_openssl_credentials(ctx, snaps[0])]
    anchors: tuple[x509.Certificate, ...] = ()
    if len(snaps) > 1:
        anchors = tuple(credentials.check_trust_bundle(snaps[1].data))
        ctx.set_verify(SSL.VERIFY_PEER, _judge_after_handshake)
        parts.append(f"{len(anchors)} trust anchor(s)")
    return credentials.Loaded(ServerTls(ctx, anchors), "; ".join(parts))


def _judge_after_handshake(
    conn: SSL.Connection, cert: crypto.X509, errnum: int, depth: int, ok: int
) -> bool:
    """Let any presented chain through TLS; `DemoServer.client_identity` judges it."""
    return True


class DemoServer(ThreadingHTTPServer):
    """One thread per connection; each connection's TLS context is fixed when it is accepted."""

    daemon_threads = True

    def __init__(self, settings: ServerSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.tls = tls_source(settings)
        self.tls.refresh()
        self.tls.current()  # fail at startup, not at the first handshake
        if ":" in settings.listen[0]:
            self.address_family = socket.AF_INET6
        super().__init__(settings.listen, _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's reverse DNS lookup
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small responses go at once
        tls = self.tls.current()
        conn = SSL.Connection(tls.context, sock)
        conn.set_accept_state()
        return TlsConnection(conn, sock, tls), addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        tlsstream.set_timeouts(request.sock, HANDSHAKE_TIMEOUT)
        try:
            request.conn.do_handshake()
        except SSL.Error as exc:
            log.info(
                "%s: TLS handshake failed: %s",
                tlsstream.peer(client_address),
                tlsstream.reason(exc),
            )
            return
        tlsstream.set_timeouts(request.sock, IDLE_TIMEOUT)
        super().finish_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with contextlib.suppress(SSL.Error):  # handshake never finished, or the peer is gone
            request.conn.shutdown()  # close_notify; the peer's reply is not awaited
        self.close_request(request)

    def close_request(self, request: Any) -> None:
        request.sock.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError | SSL.Error):
            log.info(
                "%s: connection lost: %s", tlsstream.peer(client_address), tlsstream.reason(exc)
            )
        else:
            log.exception("%s: request failed", tlsstream.peer(client_address))

    def client_identity(self, request: TlsConnection) -> str:
        """The client's SPIFFE ID, and the pod its PodIdentity extension names, if any."""
        try:
            chain = _presented_chain(request.conn)
            spiffe_id = spiffe.verify_client_chain(
                chain,
                anchors=request.tls.anchors,
                now=self.clock.now(),
                trust_domain=self.settings.spiffe_trust_domain,
                allowed=self.settings.allowed_client_ids,
            )
            pod = podidentity.from_certificate(chain[0])
        except ValueError as exc:  # cryptography parses certificates and extensions lazily
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise spiffe.PeerRejected(f"unreadable client certificate: {first_line}") from None
        if pod is None:
            return str(spiffe_id)
        return f"{spiffe_id}; pod {pod.namespace}/{pod.pod_name} on node {pod.node_name}"


def _presented_chain(conn: SSL.Connection) -> list[x509.Certificate]:
    """The client's leaf, then the intermediates it sent (OpenSSL keeps them apart on servers)."""
    leaf = conn.get_peer_certificate()
    if leaf is None:
        raise spiffe.PeerRejected("no client certificate presented")
    chain = [leaf.to_cryptography()]
    for cert in conn.get_peer_cert_chain() or []:
        if (presented := cert.to_cryptography()) != chain[0]:
            chain.append(presented)
    return chain


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DemoServer
    request: TlsConnection  # what `DemoServer.get_request` makes

    def setup(self) -> None:
        stream = tlsstream.TlsStream(self.request.conn)
        self.rfile = io.BufferedReader(stream)
        self.wfile = io.BufferedWriter(stream)  # flushed after every request

    def do_GET(self) -> None:
        if self.headers.get("Content-Length", "0") != "0":
            self.close_connection = True  # we do not read request bodies
        try:
            path = urlsplit(self.path).path
        except ValueError:  # e.g. "//[x": an unclosed IPv6 literal in an authority
            self.close_connection = True
            self._reply(400, "bad request target")
            return
        if path == "/healthz":
            self._reply(200, "ok")
        elif path == "/spiffe-echo":
            self._spiffe_echo()
        else:
            self._reply(404, "not found")

    def _spiffe_echo(self) -> None:
        if self.server.settings.spiffe_trust_bundle is None:
            self._reply(404, "SPIFFE client support is not enabled on this server")
            return
        try:
            identity = self.server.client_identity(self.request)
        except spiffe.PeerRejected as exc:
            self._reply(401, f"unauthorized: {exc}")
            return
        self._reply(200, f"Client Identity: {identity}", identity=identity)

    def _reply(self, status: int, body: str, *, identity: str = "-") -> None:
        data = (body + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        log.info(
            "%s %s %s %d client=%s",
            tlsstream.peer(self.client_address),
            self.command,
            self.path,
            status,
            identity,
        )

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # `_reply` logs every request, with the client identity

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s: " + format, tlsstream.peer(self.client_address), *args)


def run(settings: ServerSettings) -> None:
    """Serve until interrupted, reloading credentials every `reload_interval` seconds."""
    with DemoServer(settings) as server:
        stop = threading.Event()
        poller = threading.Thread(
            target=credentials.poll,
            args=([server.tls],),
            kwargs={"interval": settings.reload_interval, "stop": stop},
            name="tls-reload",
            daemon=True,
        )
        poller.start()
        log.info("serving HTTPS on %s:%d", *server.server_address[:2])
        try:
            server.serve_forever()
        finally:
            stop.set()
