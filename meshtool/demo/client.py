"""`https-client`: poll one HTTPS URL, verifying the server the way a workload would.

Two ways to trust the server, both anchored in the trust bundle file:

* standard TLS: the chain leads to the bundle and the certificate names the URL's host (what
  `row-major.net/service-dns` certificates are for);
* SPIFFE (`server_spiffe_id`): the chain leads to the bundle and the leaf is an SVID with exactly
  that ID. The host name is not checked; it is still sent as SNI. The ID is checked right after
  the handshake, before the request is written.

Every request uses a fresh connection, and the files (trust bundle, optional client credential
bundle) are re-checked with a cheap `stat` before each one, so rotated credentials are used at
once. `ConnectTo` is curl's `--connect-to`: dial another address while SNI, host name
verification and the Host header keep using the URL's host.
"""

from __future__ import annotations

import http.client
import logging
import re
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from meshtool.demo import credentials, spiffe

log = logging.getLogger(__name__)

_CONNECT_TO = re.compile(r"^(\[[^\]]*\]|[^:\[\]]*):(\d*):(\[[^\]]*\]|[^:\[\]]*):(\d*)$")


@dataclass(frozen=True, slots=True)
class ConnectTo:
    """`HOST:PORT:ADDR:PORT`; an empty field matches any host or port, or keeps it."""

    host: str
    port: int | None
    to_host: str
    to_port: int | None

    @classmethod
    def parse(cls, text: str) -> ConnectTo:
        match = _CONNECT_TO.match(text)
        if match is None:
            raise ValueError(f"--connect-to {text!r} is not HOST:PORT:ADDR:PORT")
        host, port, to_host, to_port = match.groups()
        return cls(_unbracket(host), _port(port), _unbracket(to_host), _port(to_port))

    def target(self, host: str, port: int) -> tuple[str, int]:
        if (self.host and self.host != host) or (self.port is not None and self.port != port):
            return host, port
        return self.to_host or host, self.to_port or port


@dataclass(frozen=True, slots=True)
class ClientSettings:
    fetch_url: str
    server_trust_bundle: str
    client_cred_bundle: str | None = None
    server_spiffe_id: str | None = None  # set: SPIFFE verification instead of host names
    interval: float = 5.0
    count: int | None = None  # None: forever
    connect_to: ConnectTo | None = None
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: str


def tls_source(settings: ClientSettings) -> credentials.TlsSource[ssl.SSLContext]:
    paths = [settings.server_trust_bundle]
    if settings.client_cred_bundle is not None:
        paths.append(settings.client_cred_bundle)
    check_hostname = settings.server_spiffe_id is None

    def build(snaps: Sequence[credentials.Snapshot]) -> credentials.Loaded[ssl.SSLContext]:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = check_hostname
        parts = [credentials.load_trust(ctx, snaps[0])]
        if len(snaps) > 1:
            parts.append(credentials.load_credentials(ctx, snaps[1]))
        return credentials.Loaded(ctx, "; ".join(parts))

    return credentials.TlsSource(paths=paths, build=build)


class Connection(http.client.HTTPSConnection):
    """An HTTPS connection that may dial elsewhere and may check a SPIFFE ID instead of a host."""

    def __init__(self, settings: ClientSettings, context: ssl.SSLContext) -> None:
        url = urlsplit(settings.fetch_url)
        if url.scheme != "https" or not url.hostname:
            raise ValueError(f"{settings.fetch_url!r} is not an https:// URL")
        super().__init__(url.hostname, url.port, timeout=settings.timeout, context=context)
        self._tls = context
        self._settings = settings

    def connect(self) -> None:
        dial = (self.host, self.port)
        if self._settings.connect_to is not None:
            dial = self._settings.connect_to.target(self.host, self.port)
        sock = socket.create_connection(dial, self.timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            expected = self._settings.server_spiffe_id
            if expected is not None:
                spiffe.verify_server(
                    self.sock.getpeercert(binary_form=True) or b"", expected=expected
                )
        except BaseException:
            sock.close()
            raise


def fetch(settings: ClientSettings, context: ssl.SSLContext) -> Response:
    url = urlsplit(settings.fetch_url)
    conn = Connection(settings, context)
    try:
        conn.request("GET", (url.path or "/") + (f"?{url.query}" if url.query else ""))
        resp = conn.getresponse()
        return Response(resp.status, resp.read().decode(errors="replace"))
    finally:
        conn.close()


def fetch_and_log(settings: ClientSettings, tls: credentials.TlsSource[ssl.SSLContext]) -> bool:
    """One request; True when it was answered with a 2xx status."""
    tls.refresh()
    try:
        resp = fetch(settings, tls.current())
    except (OSError, ValueError, http.client.HTTPException, spiffe.PeerRejected) as exc:
        # includes ssl.SSLError, and credentials.InvalidMaterial (a ValueError) when no usable
        # bundle has been seen yet
        log.error("GET %s failed: %s", settings.fetch_url, exc)
        return False
    first_line = resp.body.splitlines()[0] if resp.body else ""
    log.info("GET %s: %d %s", settings.fetch_url, resp.status, first_line)
    return 200 <= resp.status < 300


def run(settings: ClientSettings, *, sleep: Callable[[float], None]) -> int:
    """Poll `count` times (or forever); the exit status is 1 if any request failed."""
    tls = tls_source(settings)
    failed, done = False, 0
    while settings.count is None or done < settings.count:
        if done:
            sleep(settings.interval)
        failed |= not fetch_and_log(settings, tls)
        done += 1
    return 1 if failed else 0


def _unbracket(host: str) -> str:
    return host[1:-1] if host.startswith("[") else host


def _port(text: str) -> int | None:
    if not text:
        return None
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    return port
