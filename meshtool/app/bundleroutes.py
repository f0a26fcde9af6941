"""What the bundle endpoint answers, as values: (method, path, published bundles) -> `Response`.

Routes (SPIFFE Trust Domain and Bundle, section 5; docs/decisions/0006):
* `/`: the spiffe signer's SPIFFE bundle (`api.spiffebundle.encode`), its `spiffe_sequence` read
  from the sequence annotation on the signer's primary ClusterTrustBundle and its
  `spiffe_refresh_hint` from settings, `application/json`;
* `api.anchorpaths.path(signer, "p7c" | "pem")` for every enabled signer: that signer's roots as
  DER PKCS#7 certs-only (`application/pkcs7-mime`) or PEM (`application/x-pem-file`);
* `/healthz`: 200.
Anything else is 404, a method other than GET or HEAD 405, and a route whose bundle is not
published yet (or unreadable) 503. Everything is rendered from the CTB informer cache, never
from this replica's own pool, so every replica serves the same bytes for the same bundle.

Pure: no I/O, no clock. Rendering is memoised on the bundle's content, so a busy endpoint
encodes each published version once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from meshtool.api import anchorpaths, spiffebundle, trustbundle
from meshtool.controllers import trustbundle as publisher
from meshtool.pki import caissuers, pem

JSON = "application/json"
PKCS7 = "application/pkcs7-mime"
PEM = "application/x-pem-file"
TEXT = "text/plain; charset=utf-8"
METHODS = ("GET", "HEAD")

# Path classes, the bounded label of the request metrics.
BUNDLE, ANCHORS, HEALTH, OTHER = "bundle", "anchors", "healthz", "other"

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = TEXT
    path_class: str = OTHER
    sequence: int | None = None
    """The served `spiffe_sequence` (bundle responses only)."""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Routes:
    """The endpoint's configuration: which signers it serves and how."""

    spiffe_signer: str
    """The signer whose bundle `/` serves."""
    signers: tuple[str, ...]
    sequence_annotation: str
    refresh_hint: int


Lookup = Callable[[str], trustbundle.TrustBundle | None]
"""A signer's primary bundle from the cache, by signer name."""


def answer(routes: Routes, method: str, path: str, bundles: Lookup) -> Response:
    path_class, render = _route(routes, path)
    if method not in METHODS:
        return _text(405, "method not allowed", path_class, headers={"Allow": ", ".join(METHODS)})
    if render is None:
        return _text(404, "not found", path_class)
    return render(bundles)


def _route(routes: Routes, path: str) -> tuple[str, Callable[[Lookup], Response] | None]:
    if path == "/healthz":
        return HEALTH, lambda _: _text(200, "ok", HEALTH)
    if path == "/":
        return BUNDLE, functools.partial(_bundle, routes, routes.spiffe_signer)
    parsed = anchorpaths.parse_path(path)
    if parsed is None or parsed[0] not in routes.signers:
        return (OTHER if parsed is None else ANCHORS), None
    signer, fmt = parsed
    return ANCHORS, functools.partial(_anchors, signer, fmt)


def _bundle(routes: Routes, signer: str, bundles: Lookup) -> Response:
    have = bundles(signer)
    if have is None:
        return _text(503, f"the bundle of {signer} is not published yet", BUNDLE)
    sequence = publisher.read_sequence(have.annotations, routes.sequence_annotation)
    try:
        body = render_bundle(have.pem, sequence, routes.refresh_hint)
    except (pem.PemError, spiffebundle.BundleError) as exc:
        return _text(503, f"the bundle of {signer} is unusable: {exc}", BUNDLE)
    return Response(200, body, JSON, BUNDLE, sequence)


def _anchors(signer: str, fmt: str, bundles: Lookup) -> Response:
    have = bundles(signer)
    if have is None:
        return _text(503, f"the bundle of {signer} is not published yet", ANCHORS)
    try:
        body = render_anchors(have.pem, fmt)
    except pem.PemError as exc:
        return _text(503, f"the bundle of {signer} is unusable: {exc}", ANCHORS)
    return Response(200, body, PKCS7 if fmt == "p7c" else PEM, ANCHORS)


@functools.lru_cache(maxsize=16)
def render_bundle(bundle_pem: str, sequence: int | None, refresh_hint: int) -> bytes:
    """The SPIFFE bundle of the roots in `bundle_pem`."""
    roots = tuple(pem.certificates(bundle_pem.encode("ascii")))
    return spiffebundle.encode(
        spiffebundle.SpiffeBundle(roots, sequence=sequence, refresh_hint=refresh_hint)
    )


@functools.lru_cache(maxsize=32)
def render_anchors(bundle_pem: str, fmt: str) -> bytes:
    """The roots in `bundle_pem` as DER PKCS#7 certs-only ("p7c") or as PEM ("pem")."""
    return caissuers.encode(pem.certificates(bundle_pem.encode("ascii")), fmt)


def _text(
    status: int, message: str, path_class: str, *, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(status, (message + "\n").encode(), TEXT, path_class, headers=headers or {})


def head(response: Response, *, body_length: int | None = None) -> bytes:
    """The status line and headers of `response` (Content-Length of its body)."""
    length = len(response.body) if body_length is None else body_length
    lines = [
        f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Error')}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {length}",
        "Cache-Control: no-cache",
        "Connection: close",
        *(f"{name}: {value}" for name, value in response.headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def encode(response: Response, method: str) -> bytes:
    """The bytes on the wire: HEAD gets the headers of GET and no body."""
    return head(response) + (b"" if method == "HEAD" else response.body)
