"""From a leaf (or chain) alone to the issuing cluster's verified anchors. Pure but for `fetch`.

`anchors_url(chain)` is the leaf's one caIssuers URL, which must be https (anchors fetched
over plain HTTP could be anyone's); `issuing_cluster(url)` splits a meshtool anchors URL into
the cluster issuer and the signer name (`meshtool.api.anchorpaths`).
`verify_against(chain, url, body, now=)` decodes the fetched document in the format its URL
names (`.p7c` DER PKCS#7 certs-only, or `.pem`) and verifies the chain against exactly those
certificates with `meshtool.pki.chain.verify` (Ed25519 too). `discover` composes them
around an injected `fetch`. Every failure is a `DiscoveryError` whose message says which step
failed.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from cryptography import x509

from meshtool.api import anchorpaths
from meshtool.pki import caissuers, chain

Fetch = Callable[[str], Awaitable[bytes]]


class DiscoveryError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Discovered:
    url: str
    """Where the anchors came from: the leaf's caIssuers URL."""
    anchors: tuple[x509.Certificate, ...]
    path: tuple[x509.Certificate, ...]
    """The verified path, leaf first, ending with the anchor."""


def anchors_url(certs: Sequence[x509.Certificate]) -> str:
    if not certs:
        raise DiscoveryError("no certificate given")
    try:
        url = caissuers.url(certs[0])
    except caissuers.AnchorsError as exc:
        raise DiscoveryError(f"the leaf's AIA: {exc}") from None
    if url is None:
        raise DiscoveryError("the leaf names no issuer (no AIA caIssuers URL)")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise DiscoveryError(f"the leaf's caIssuers URL {url!r} is not an https URL")
    return url


def issuing_cluster(url: str) -> tuple[str, str] | None:
    """(issuer, signer name) of a meshtool anchors URL; None for any other URL."""
    issuer, sep, rest = url.partition(anchorpaths.PREFIX)
    parsed = anchorpaths.parse_path(sep + rest) if sep and issuer else None
    return None if parsed is None else (issuer, parsed[0])


def verify_against(
    certs: Sequence[x509.Certificate], url: str, body: bytes, *, now: dt.datetime
) -> Discovered:
    try:
        anchors = caissuers.decode(body, caissuers.format_of(url))
    except caissuers.AnchorsError as exc:
        raise DiscoveryError(f"anchors from {url}: {exc}") from None
    try:
        path = chain.verify(certs, anchors, now=now)
    except chain.ChainError as exc:
        raise DiscoveryError(f"chain does not verify against the anchors of {url}: {exc}") from None
    return Discovered(url=url, anchors=anchors, path=path)


async def discover(
    certs: Sequence[x509.Certificate], *, fetch: Fetch, now: dt.datetime
) -> Discovered:
    """Read the leaf's caIssuers URL, fetch the anchors there and verify `certs` against them."""
    url = anchors_url(certs)
    return verify_against(certs, url, await fetch(url), now=now)
