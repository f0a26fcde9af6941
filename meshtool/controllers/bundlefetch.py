"""Fetching a peer's SPIFFE bundle over HTTPS: the one module that speaks HTTP to a peer.

`fetch(target, limits)` GETs the bundle endpoint and returns the body bytes, or raises
`FetchError` whose `reason` is a short metric label and whose message is one sentence for the
object's status. It does not parse the bundle (`api.spiffebundle.parse` does) and keeps no state.

Invariants:
* bounded: the whole fetch (connect, TLS, redirects, body) ends within `limits.timeout`
  seconds, so a slow body times out; the body is read incrementally and abandoned as soon as it
  passes `spiffebundle.MAX_BYTES` (a larger Content-Length is refused before reading);
* redirects: at most `MAX_REDIRECTS` temporary ones (302, 303, 307), each to an https URL not
  seen before in this fetch (so a loop is refused); permanent ones (301, 308) are refused, since
  SPIFFE Federation expects only temporary redirects and we keep the configured URL anyway;
* `https_web`: the server is verified with the system's trust store plus `limits.ca_file`, and
  its certificate must match the URL's host (RFC 6125);
* `https_spiffe`: the server's chain must verify against `target.roots` (the peer trust domain's
  current bundle) with no hostname check, and its leaf must be an X509-SVID whose only URI SAN
  is `target.endpoint_id`. Every hop of a redirect is held to the same rules.
No client certificate is ever sent; nothing read from the peer is logged except its size.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx2
from cryptography import x509

from meshtool.api import federation, spiffebundle
from meshtool.pki import pem

MAX_REDIRECTS = 3
TEMPORARY = (302, 303, 307)
PERMANENT = (301, 308)


class FetchError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    profile: str
    endpoint_id: str = ""
    roots: Sequence[x509.Certificate] = ()
    """https_spiffe: the trust anchors the endpoint's SVID must chain to."""


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float = 10.0
    ca_file: Path | None = None
    max_bytes: int = spiffebundle.MAX_BYTES


async def fetch(target: Target, limits: Limits) -> bytes:
    context = tls_context(target, limits)
    try:
        async with asyncio.timeout(limits.timeout):
            async with httpx2.AsyncClient(
                verify=context, follow_redirects=False, trust_env=False, timeout=limits.timeout
            ) as http:
                return await _follow(http, target, limits)
    except TimeoutError:
        raise FetchError("timeout", f"no complete answer within {limits.timeout:g}s") from None
    except httpx2.TimeoutException:
        raise FetchError("timeout", f"no complete answer within {limits.timeout:g}s") from None
    except httpx2.HTTPError as exc:
        raise _transport_error(exc) from None


def tls_context(target: Target, limits: Limits) -> ssl.SSLContext:
    if target.profile == federation.HTTPS_WEB:
        context = ssl.create_default_context()
        if limits.ca_file is not None:
            context.load_verify_locations(cafile=str(limits.ca_file))
        return context
    if not target.roots:
        raise FetchError("tls", "no bundle of the peer trust domain to authenticate its endpoint")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False  # https_spiffe authenticates the SPIFFE ID, not the host
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=pem.encode(list(target.roots)))
    return context


async def _follow(http: httpx2.AsyncClient, target: Target, limits: Limits) -> bytes:
    url, seen = target.url, {target.url}
    for _ in range(MAX_REDIRECTS + 1):
        request = http.build_request("GET", url, headers={"Accept": "application/json"})
        response = await http.send(request, stream=True)
        try:
            _check_peer(response, target)
            if response.status_code not in TEMPORARY:
                return await _body(response, limits)
            url = _redirect(response, url, seen)
        finally:
            await response.aclose()
    raise FetchError("redirect", f"more than {MAX_REDIRECTS} redirects from {target.url}")


def _redirect(response: httpx2.Response, url: str, seen: set[str]) -> str:
    location = response.headers.get("location", "")
    nxt = urljoin(url, location)
    if not location or urlsplit(nxt).scheme != "https":
        raise FetchError("redirect", f"redirect from {url} to a non-https URL {location!r}")
    if nxt in seen:
        raise FetchError("redirect", f"redirect loop: {url} sends back to {nxt}")
    seen.add(nxt)
    return nxt


async def _body(response: httpx2.Response, limits: Limits) -> bytes:
    code = response.status_code
    if code in PERMANENT:
        where = response.headers.get("location", "")
        raise FetchError("redirect", f"permanent redirect ({code}) to {where!r} refused")
    if code != 200:
        raise FetchError("http", f"the endpoint answered HTTP {code}")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limits.max_bytes:
        raise FetchError("too_large", f"the body ({length} bytes) is over {limits.max_bytes}")
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limits.max_bytes:
            raise FetchError("too_large", f"the body is over {limits.max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_peer(response: httpx2.Response, target: Target) -> None:
    if target.profile != federation.HTTPS_SPIFFE:
        return
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        raise FetchError("tls", "the endpoint presented no certificate")
    problem = svid_problem(x509.load_der_x509_certificate(der), target.endpoint_id)
    if problem:
        raise FetchError("tls", f"the endpoint's certificate {problem}")


def svid_problem(leaf: x509.Certificate, endpoint_id: str) -> str:
    """Why `leaf` is not an X509-SVID of `endpoint_id` (its chain is verified by TLS)."""
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    if len(uris) != 1:
        return f"has {len(uris)} URI SANs, not exactly one"
    if uris[0] != endpoint_id:
        return f"is {uris[0]!r}, not the expected {endpoint_id!r}"
    try:
        if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "is a CA certificate, not an X509-SVID leaf"
    except x509.ExtensionNotFound:
        pass
    return ""


def _transport_error(exc: httpx2.HTTPError) -> FetchError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return FetchError("tls", f"TLS failed: {cause}")
        cause = cause.__cause__ or cause.__context__
    return FetchError("connect", f"could not reach the endpoint: {exc or type(exc).__name__}")
