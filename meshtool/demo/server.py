"""`demo-server`: an HTTPS server that serves pod certificates and checks SPIFFE clients.

Endpoints: `GET /healthz` answers `ok`. `GET /spiffe-echo` (with SPIFFE client support on)
answers `Client Identity: spiffe://...` for an acceptable client SVID and 401 with a one-line
reason otherwise. A client certificate from the pod-identity signer also carries the Kubernetes
PodIdentity extension: the answer (and the log line) then adds the pod and node it names,
`Client Identity: spiffe://...; pod <namespace>/<pod> on node <node>`.

How a client is judged: by `meshtool.workload`. The credentials come from a SPIFFE credential
folder (`credential_folder`: `credential-bundle.pem` and one `<td>.spiffe-trust-bundle.pem` per
trust domain) or from separate files (`server_creds`, and `spiffe_trust_bundle` as the bundle
of `spiffe_trust_domain`), read as the same folder `State`. With SPIFFE client support on, the
server requests a client certificate but lets any presented chain through the handshake
(`workload.tls.server_context`), and every `/spiffe-echo` request judges the connection's peer
in Python with `workload.tls.verify_client`: against the bundle of the client's own trust
domain, then the allow-list (`allowed_client_ids` and `allowed_client_trust_domains`, in any
trust domains that have a bundle; when both are empty, anyone in our own trust domain). A
refusal is a 401 with the reason. `/healthz` needs no client certificate. Without SPIFFE client
support no certificate is requested.

Hot reload. Every accepted socket gets an `SSL.Connection` on the source's current (state,
context) at accept time and is handshaken on its own thread. The state stays with the
connection, so open keep-alive connections keep the credentials and bundles they started with
while new connections get new ones. A poller thread refreshes the source every
`reload_interval` seconds. Session tickets and the session cache are off, so no session is
ever resumed. (Under TLS 1.3 OpenSSL then still sends a stateful ticket that can never be
honoured; pyOpenSSL has no `set_num_tickets(0)`.) TLS 1.2 and 1.3.

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
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from OpenSSL import SSL

from meshtool.clock import Clock, SystemClock
from meshtool.demo import tlsstream
from meshtool.pki import podidentity
from meshtool.signers.spiffe import DEFAULT_TRUST_DOMAIN
from meshtool.workload import folder, peer, source, svid, tls

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class ServerSettings:
    listen: tuple[str, int]
    server_creds: str | None = None
    spiffe_trust_bundle: str | None = None  # set: request and verify SPIFFE client certificates
    spiffe_trust_domain: str = DEFAULT_TRUST_DOMAIN
    credential_folder: str | None = None  # instead of the two files above
    enable_spiffe_client_support: bool = False  # with `credential_folder`
    allowed_client_ids: frozenset[str] = frozenset()
    allowed_client_trust_domains: frozenset[str] = frozenset()
    reload_interval: float = 1.0

    @property
    def client_support(self) -> bool:
        return self.enable_spiffe_client_support or self.spiffe_trust_bundle is not None

    def allowed(self, state: folder.State) -> peer.Allowed:
        """The allow-list; when none is given, our own trust domain."""
        if self.allowed_client_ids or self.allowed_client_trust_domains:
            return peer.Allowed(self.allowed_client_ids, self.allowed_client_trust_domains)
        own = state.trust_domain if self.credential_folder else self.spiffe_trust_domain
        return peer.Allowed(trust_domains=frozenset({own} if own else ()))


ServerTls = tuple[folder.State, SSL.Context]
"""What a connection is accepted with and keeps for its life."""


@dataclass(frozen=True, slots=True)
class TlsConnection:
    """An accepted connection: `http.server`'s request object."""

    conn: SSL.Connection
    sock: socket.socket
    tls: ServerTls


def files(settings: ServerSettings) -> source.Files:
    if settings.credential_folder is not None:
        return folder.in_folder(settings.credential_folder)
    bundle = settings.spiffe_trust_bundle
    return folder.as_folder(
        credential=settings.server_creds,
        bundles={settings.spiffe_trust_domain: bundle} if bundle else {},
    )


def tls_source(settings: ServerSettings) -> folder.Bound[SSL.Context]:
    label = settings.credential_folder or ", ".join(
        p for p in (settings.server_creds, settings.spiffe_trust_bundle) if p
    )

    def build(state: folder.State) -> SSL.Context:
        return tls.server_context(state, request_client_cert=settings.client_support)

    return folder.follow(files(settings), build, label)


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
        current = self.tls.current()
        conn = SSL.Connection(current[1], sock)
        conn.set_accept_state()
        return TlsConnection(conn, sock, current), addr

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
        state = request.tls[0]
        try:
            spiffe_id = tls.verify_client(
                request.conn,
                state=state,
                allowed=self.settings.allowed(state),
                now=self.clock.now(),
            )
            pod = podidentity.from_certificate(tls.presented_chain(request.conn)[0])
        except ValueError as exc:  # cryptography parses certificates and extensions lazily
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise svid.PeerRejected(f"unreadable client certificate: {first_line}") from None
        if pod is None:
            return str(spiffe_id)
        return f"{spiffe_id}; pod {pod.namespace}/{pod.pod_name} on node {pod.node_name}"


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
        if not self.server.settings.client_support:
            self._reply(404, "SPIFFE client support is not enabled on this server")
            return
        try:
            identity = self.server.client_identity(self.request)
        except svid.PeerRejected as exc:
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
            target=source.poll,
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
