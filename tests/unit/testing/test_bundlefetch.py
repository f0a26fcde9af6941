"""`bundlefetch`: the out-of-band fetch checks the endpoint's SVID, then returns the bundle.

A real TLS server on loopback (the standard library's, on a thread) presents an X509-SVID of a
throwaway CA; the fetch verifies it against that CA and the expected SPIFFE ID.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from meshtool.api import spiffebundle
from meshtool.testing import bundlefetch

ENDPOINT_ID = "spiffe://west.test/meshtool/bundle-endpoint"
NOW = dt.datetime.now(dt.UTC)


def _cert(subject, issuer_name, public_key, signer, *, ca, uri=None):
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if uri:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=True
        ).add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class _CA:
    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = _cert(subject, subject, self.key.public_key(), self.key, ca=True)

    def svid(self, folder: Path, uri: str) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = _cert(
            x509.Name([]), self.cert.subject, key.public_key(), self.key, ca=False, uri=uri
        )
        cert_path, key_path = folder / "svid.pem", folder / "svid.key"
        cert_path.write_text(_pem(leaf))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path


@pytest.fixture
def west() -> _CA:
    return _CA("west.test")


def _serve(tmp_path: Path, ca: _CA, uri: str, body: bytes, status: int = 200) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*ca.svid(tmp_path, uri))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _bundle(ca: _CA) -> bytes:
    return spiffebundle.encode(spiffebundle.SpiffeBundle((ca.cert,), sequence=3, refresh_hint=5))


def test_bootstrap_returns_the_body_and_the_parsed_bundle(tmp_path, west):
    for url in _serve(tmp_path, west, ENDPOINT_ID, _bundle(west)):
        body, bundle = bundlefetch.bootstrap(
            url, anchors_pem=_pem(west.cert), spiffe_id=ENDPOINT_ID, now=NOW
        )
    assert body == _bundle(west)
    assert bundle.x509_authorities == (west.cert,) and bundle.sequence == 3


def test_an_endpoint_with_another_spiffe_id_is_refused(tmp_path, west):
    for url in _serve(tmp_path, west, "spiffe://west.test/something-else", _bundle(west)):
        with pytest.raises(bundlefetch.FetchError, match="something-else"):
            bundlefetch.fetch(url, anchors_pem=_pem(west.cert), spiffe_id=ENDPOINT_ID)


def test_an_endpoint_not_under_the_anchors_is_refused(tmp_path, west):
    other = _CA("impostor")
    for url in _serve(tmp_path, other, ENDPOINT_ID, _bundle(other)):
        with pytest.raises(bundlefetch.FetchError, match="CERTIFICATE_VERIFY_FAILED"):
            bundlefetch.fetch(url, anchors_pem=_pem(west.cert), spiffe_id=ENDPOINT_ID)


def test_an_error_status_is_refused(tmp_path, west):
    for url in _serve(tmp_path, west, ENDPOINT_ID, b"no", status=503):
        with pytest.raises(bundlefetch.FetchError, match="HTTP 503"):
            bundlefetch.fetch(url, anchors_pem=_pem(west.cert), spiffe_id=ENDPOINT_ID)


def test_a_body_that_is_no_bundle_fails_with_the_parsers_message(tmp_path, west):
    for url in _serve(tmp_path, west, ENDPOINT_ID, b"<html>"):
        with pytest.raises(spiffebundle.BundleError):
            bundlefetch.bootstrap(url, anchors_pem=_pem(west.cert), spiffe_id=ENDPOINT_ID, now=NOW)


def test_only_https_urls(west):
    with pytest.raises(bundlefetch.FetchError, match="https"):
        bundlefetch.fetch("http://127.0.0.1:1/", anchors_pem=_pem(west.cert), spiffe_id=ENDPOINT_ID)
