"""Fuzzing the demo server's TLS and HTTP fronts: a real listener on loopback, real sockets.

Two targets against one `DemoServer` with SPIFFE client support on:
- `demo tls`: raw bytes on TCP, mutated from real ClientHellos (TLS 1.2 and 1.3, with and
  without ALPN) and from whole handshake flights; then end of input;
- `demo http`: a full TLS handshake (with or without a client SVID), then mutated HTTP requests
  (request lines, headers, bodies, pipelining), sometimes with the TLS records themselves
  damaged; then close_notify.

Each connection is bounded: the client waits at most `WAIT` seconds for the server to finish
and close, and each input's time is recorded. The server must log no unexpected error (its
`handle_error` logs those with a traceback), answer every parsable request with one HTTP
status line, close every connection (no connection thread outlives its input), and still
answer /healthz afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshtool.demo import server
from meshtool.testing import fuzzing

from .demo_pki import CLIENT_ID, SERVER_HOST, Projection, issue, make_ca

pytestmark = pytest.mark.fuzz

WAIT = 5.0
REQUESTS = (
    b"GET /healthz HTTP/1.1\r\nHost: server.demo.svc\r\n\r\n",
    b"GET /spiffe-echo HTTP/1.1\r\nHost: x\r\nUser-Agent: fuzz\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /spiffe-echo HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /spiffe-echo?x=%ff#frag HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody",
    b"POST /healthz HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /nope HTTP/1.1\r\nConnection: close\r\nX-" + b"a" * 9000 + b": 1\r\n\r\n",
    b"GET http://server.demo.svc/healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
)


class Errors(logging.Handler):
    """Records what the server logs at ERROR: `handle_error`'s unexpected failures."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@pytest.fixture
def target(tmp_path: Path, projected: Projection, start_server) -> Iterator[tuple[int, Path]]:
    ca = make_ca("fuzz CA", "ecdsa")
    leaf = issue(ca, dns=(SERVER_HOST,))
    projected.write(**{"creds.pem": leaf.bundle(), "spiffe.pem": ca.pem()})
    srv = start_server(
        spiffe_trust_bundle=projected.path("spiffe.pem"), allowed_client_ids=frozenset({CLIENT_ID})
    )
    svid = tmp_path / "svid.pem"
    svid.write_bytes(issue(ca, uris=(CLIENT_ID,)).bundle())
    yield srv.server_address[1], svid


def client_context(svid: Path | None, *, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the server is not under test
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    if svid is not None:
        ctx.load_cert_chain(svid)
    return ctx


def client_hellos() -> list[bytes]:
    found = []
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3, None):
        ctx = client_context(None, version=version)
        if version is None:
            ctx.set_alpn_protocols(["h2", "http/1.1"])
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname=SERVER_HOST)
        with contextlib.suppress(ssl.SSLWantReadError):
            tls.do_handshake()
        found.append(outgoing.read())
    return found


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_to_end(sock: socket.socket) -> tuple[bytes, bool]:
    """What the server sends until it closes, and whether it reset the connection. A server
    that neither closes nor resets within `WAIT` raises TimeoutError: an unexpected failure."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:  # closed with our bytes unread: the kernel sends a reset
        return b"".join(chunks), True
    return b"".join(chunks), False


def raw_exchange(port: int, data: bytes) -> str:
    with connect(port) as sock:
        with contextlib.suppress(OSError):  # the server may have reset the connection already
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        answer, reset = read_to_end(sock)
    return ("answered" if answer else "closed") + (" (reset)" if reset else "")


class TlsClient:
    """A TLS client over a blocking socket through memory BIOs, so the records can be damaged."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext) -> None:
        self.sock, self.incoming, self.outgoing = sock, ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname=SERVER_HOST)

    def handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                self.flush()
                return
            except ssl.SSLWantReadError:
                self.flush()
                self.incoming.write(self.sock.recv(65536) or b"")

    def flush(self, damage: fuzzing.Mutator | None = None) -> None:
        data = self.outgoing.read()
        if data and damage is not None:
            data = damage.binary(data, rounds=1)
        if data:
            self.sock.sendall(data)

    def send(self, payload: bytes, damage: fuzzing.Mutator | None) -> None:
        self.tls.write(payload)
        self.flush(damage)
        with contextlib.suppress(ssl.SSLError):
            self.tls.unwrap()  # queue our close_notify; the server's reply comes later
        self.flush()
        self.sock.shutdown(socket.SHUT_WR)  # a damaged record must not leave the server waiting

    def plaintext(self, raw: bytes) -> bytes:
        self.incoming.write(raw)
        out = []
        with contextlib.suppress(ssl.SSLError):
            while chunk := self.tls.read(65536):
                out.append(chunk)
        return b"".join(out)


def http_exchange(port: int, ctx: ssl.SSLContext, payload: bytes, damage: fuzzing.Mutator | None):
    with connect(port) as sock:
        client = TlsClient(sock, ctx)
        client.handshake()
        with contextlib.suppress(OSError):
            client.send(payload, damage)
        raw, _ = read_to_end(sock)
        answer = client.plaintext(raw)
    if not answer:
        return "no answer"
    if not answer.startswith(b"HTTP/1."):
        return "HTTP/0.9"  # http.server answers what it cannot parse as a version without one
    assert re.match(rb"HTTP/1\.[01] [1-5]\d\d ", answer), answer[:80]
    return answer.split(b" ", 2)[1].decode()


def raw_inputs(total: int) -> Iterator[bytes]:
    mutator = fuzzing.Mutator(fuzzing.seed())
    hellos = client_hellos()
    for _ in range(total):
        hello = mutator.rng.choice(hellos)
        yield mutator.binary(hello, rounds=4, donors=hellos)


def http_inputs(total: int) -> Iterator[tuple[bytes, bool, bool]]:
    mutator = fuzzing.Mutator(fuzzing.seed() + 1)
    for _ in range(total):
        request = mutator.rng.choice(REQUESTS)
        roll = mutator.rng.random()
        if roll < 0.6:
            request = mutator.binary(request, rounds=3, donors=REQUESTS)
        elif roll < 0.8:
            lines = request.split(b"\r\n")
            at = mutator.rng.randrange(len(lines))
            lines[at] = mutator.text(lines[at].decode("latin-1")).encode("utf-8", "replace")
            request = b"\r\n".join(lines)
        yield request, mutator.rng.random() < 0.3, mutator.rng.random() < 0.1


@contextlib.contextmanager
def watched() -> Iterator[Errors]:
    errors, log = Errors(), logging.getLogger(server.__name__)
    log.addHandler(errors)
    try:
        yield errors
    finally:
        log.removeHandler(errors)


def settle(threads_before: int) -> int:
    """Connection threads still alive shortly after the last input (they must all end)."""
    for _ in range(100):
        if threading.active_count() <= threads_before:
            break
        threading.Event().wait(0.05)
    return threading.active_count() - threads_before


def test_tls_front_survives_mutated_client_hellos(target: tuple[int, Path]) -> None:
    port, _ = target
    before = threading.active_count()
    with watched() as errors:
        stats = fuzzing.run(
            "demo tls (raw tcp)", raw_inputs(fuzzing.count()), lambda d: raw_exchange(port, d)
        )
    assert fuzzing.problems(stats) == [], stats.failures
    assert errors.records == []
    assert settle(before) <= 0
    assert http_exchange(port, client_context(None), REQUESTS[0], None) == "200"


def test_http_front_survives_mutated_requests(target: tuple[int, Path]) -> None:
    port, svid = target
    anonymous, authenticated = client_context(None), client_context(svid)
    damage = fuzzing.Mutator(fuzzing.seed() + 2)
    before = threading.active_count()

    def check(item: tuple[bytes, bool, bool]) -> str:
        payload, with_svid, damaged = item
        ctx = authenticated if with_svid else anonymous
        return http_exchange(port, ctx, payload, damage if damaged else None)

    with watched() as errors:
        stats = fuzzing.run("demo http (tls)", http_inputs(fuzzing.count()), check)
    assert fuzzing.problems(stats) == [], stats.failures
    assert errors.records == []
    assert settle(before) <= 0
    for status in ("200", "400", "401", "404"):
        assert stats.outcomes[status] > 0, stats.line()
    assert http_exchange(port, authenticated, REQUESTS[1], None) == "200"
