"""`https-client`: poll one HTTPS URL, verifying the server the way a workload would.

Two ways to trust the server:

* standard TLS: the chain leads to the trust bundle file and the certificate names the URL's
  host (what `row-major.net/service-dns` certificates are for);
* SPIFFE (`server_spiffe_id`): the leaf is an SVID with exactly that ID and its chain leads to
  the bundle of the ID's trust domain, which may be ours or a federated one: from a SPIFFE
  credential folder (`credential_folder`, which also holds our client credential) or from the
  trust bundle file. `meshtool.workload.tls.client_context` trusts only that bundle, and
  `verify_server` checks the ID right after the handshake, before the request is written. The
  host name is not checked; it is still sent as SNI.

Every request uses a fresh connection, and the files (trust bundles, optional client credential
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from meshtool.pki import pem
from meshtool.workload import folder, peer, source, svid, tls

log = logging.getLogger(__name__)

_TRUST = "server-trust-bundle.pem"

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
    server_trust_bundle: str | None = None  # one of this and `credential_folder`
    client_cred_bundle: str | None = None
    server_spiffe_id: str | None = None  # set: SPIFFE verification instead of host names
    credential_folder: str | None = None  # a SPIFFE credential folder (needs server_spiffe_id)
    interval: float = 5.0
    count: int | None = None  # None: forever
    connect_to: ConnectTo | None = None
    timeout: float = 10.0

    @property
    def server_trust_domain(self) -> str | None:
        return svid.parse_id(self.server_spiffe_id).trust_domain if self.server_spiffe_id else None


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: str


def tls_source(settings: ClientSettings) -> source.Source[ssl.SSLContext]:
    label = settings.credential_folder or ", ".join(
        p for p in (settings.server_trust_bundle, settings.client_cred_bundle) if p
    )
    trust_domain = settings.server_trust_domain
    if trust_domain is None:
        return source.Source(files=_files(settings), build=_web_context, label=label)

    def build(snaps: Mapping[str, source.Snapshot]) -> source.Loaded[ssl.SSLContext]:
        state = folder.parse(snaps)
        try:
            context = tls.client_context(state, trust_domain=trust_domain)
        except peer.NoBundle as exc:  # de-federated: nothing may verify the server any more
            raise source.Withdrawn(str(exc)) from None
        return source.Loaded(context, state.summary())

    if settings.credential_folder is not None:
        return source.Source(
            files=folder.in_folder(settings.credential_folder), build=build, label=label
        )
    files = folder.as_folder(
        credential=settings.client_cred_bundle,
        bundles={trust_domain: settings.server_trust_bundle or ""},
    )
    return source.Source(files=files, build=build, label=label)


def _files(settings: ClientSettings) -> source.Files:
    files = {_TRUST: settings.server_trust_bundle or ""}
    if settings.client_cred_bundle is not None:
        files[folder.CREDENTIAL_BUNDLE] = settings.client_cred_bundle
    return source.fixed(files)


def _web_context(snaps: Mapping[str, source.Snapshot]) -> source.Loaded[ssl.SSLContext]:
    """Standard TLS: the server's chain leads to the trust bundle and names the URL's host."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        roots = pem.certificates(snaps[_TRUST].data)
    except pem.PemError as exc:
        raise source.InvalidMaterial(f"unreadable trust bundle: {exc}") from None
    ctx.load_verify_locations(cadata=snaps[_TRUST].data.decode("ascii"))
    parts = [f"{len(roots)} trust anchor(s)"]
    creds = snaps.get(folder.CREDENTIAL_BUNDLE)
    if creds is not None:
        try:
            leaf = pem.credential(creds.data).chain[0]
        except pem.PemError as exc:
            raise source.InvalidMaterial(f"unusable credential bundle: {exc}") from None
        ctx.load_cert_chain(creds.path)  # OpenSSL skips the key block when reading the chain
        parts.append(f"leaf serial {leaf.serial_number:x}")
    return source.Loaded(ctx, "; ".join(parts))


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
            expected, trust_domain = (
                self._settings.server_spiffe_id,
                self._settings.server_trust_domain,
            )
            if expected is not None and trust_domain is not None:
                allowed = peer.Allowed(ids=frozenset({expected}))
                tls.verify_server(self.sock, trust_domain=trust_domain, allowed=allowed)
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


def fetch_and_log(settings: ClientSettings, current: source.Source[ssl.SSLContext]) -> bool:
    """One request; True when it was answered with a 2xx status."""
    current.refresh()
    try:
        resp = fetch(settings, current.current())
    except (OSError, ValueError, http.client.HTTPException, svid.PeerRejected) as exc:
        # includes ssl.SSLError, and source.InvalidMaterial (a ValueError) when no usable
        # bundle has been seen yet
        log.error("GET %s failed: %s", settings.fetch_url, exc)
        return False
    first_line = resp.body.splitlines()[0] if resp.body else ""
    log.info("GET %s: %d %s", settings.fetch_url, resp.status, first_line)
    return 200 <= resp.status < 300


def run(settings: ClientSettings, *, sleep: Callable[[float], None]) -> int:
    """Poll `count` times (or forever); the exit status is 1 if any request failed."""
    current = tls_source(settings)
    failed, done = False, 0
    while settings.count is None or done < settings.count:
        if done:
            sleep(settings.interval)
        failed |= not fetch_and_log(settings, current)
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
