"""Fetching a SPIFFE bundle once, out of band, the way an operator bootstraps a federation.

An operator who can read the peer cluster's ClusterTrustBundles can check the peer's
`https_spiffe` bundle endpoint with them: the endpoint must present an X509-SVID that chains to
the peer's own trust anchors and names exactly the expected SPIFFE ID (host names play no part).
`fetch` does that with the standard library (`ssl`, `http.client`), like `curl --cacert` plus a
SAN check, and returns the body; `bootstrap` also parses it with `api.spiffebundle`'s strict
parser, so a bad body fails here with the parser's message instead of in the federation
controller. One request, bounded by `timeout`, no redirects, no retry: a caller that wants to
wait for the endpoint loops itself, with its own deadline.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ssl
from urllib.parse import urlsplit

from cryptography import x509

from meshtool.api import spiffebundle

TIMEOUT = 10.0


class FetchError(RuntimeError):
    pass


def fetch(url: str, *, anchors_pem: str, spiffe_id: str, timeout: float = TIMEOUT) -> bytes:
    """The body of GET `url`, from an endpoint proven to be `spiffe_id` under `anchors_pem`."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise FetchError(f"{url}: want an https URL")
    context = _context(anchors_pem)
    conn = http.client.HTTPSConnection(
        parts.hostname, parts.port or 443, context=context, timeout=timeout
    )
    try:
        conn.request("GET", parts.path or "/")
        presented = _peer_id(conn)  # before the response: a closing one drops conn.sock
        response = conn.getresponse()
        body = response.read(spiffebundle.MAX_BYTES + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"GET {url}: {exc}") from exc
    finally:
        conn.close()
    if presented != spiffe_id:
        raise FetchError(f"{url} presented {presented!r}, not {spiffe_id!r}")
    if response.status != 200:
        raise FetchError(f"GET {url}: HTTP {response.status}")
    return body


def bootstrap(
    url: str, *, anchors_pem: str, spiffe_id: str, now: dt.datetime, timeout: float = TIMEOUT
) -> tuple[bytes, spiffebundle.SpiffeBundle]:
    """The fetched body and the bundle it parses to (raises `BundleError` if it does not)."""
    body = fetch(url, anchors_pem=anchors_pem, spiffe_id=spiffe_id, timeout=timeout)
    return body, spiffebundle.parse(body, now=now)


def _context(anchors_pem: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # an SVID names a SPIFFE ID, checked below, not a host
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=anchors_pem)
    return context


def _peer_id(conn: http.client.HTTPSConnection) -> str | None:
    sock = conn.sock
    der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
    if not der:
        return None
    try:
        san = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
    except x509.ExtensionNotFound:
        return None
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if len(uris) == 1 else None
