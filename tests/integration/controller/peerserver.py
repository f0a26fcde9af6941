"""A peer trust domain for federation tests: its CA, and an HTTPS bundle endpoint we control.

`PeerServer` listens on a free loopback port as `https://localhost:<port>/`, in either profile
(`https_spiffe`: an X509-SVID of the peer's trust domain; `https_web`: a serving certificate of
a separate web CA). `answer` says what the next requests get: a good bundle (`good`), bad
content, a huge or slow body, redirects. `tls` swaps the certificate presented, through the
SNI callback, so a test can turn the TLS side bad without restarting the server. Every request
is recorded (`requests`: monotonic times) and every TLS handshake counted (`handshakes`), so
tests can tell that a retry happened even when TLS refused it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from meshtool.api import spiffebundle
from meshtool.testing import pki, processes

Answer = Callable[[str], bytes]
"""Request path -> the whole HTTP response (status line, headers and body)."""


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def authority(name: str, *, ca: bool = True, expired: bool = False) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    start, end = (
        (now - dt.timedelta(days=3), now - dt.timedelta(days=1))
        if expired
        else (
            now - dt.timedelta(minutes=5),
            now + dt.timedelta(days=2),
        )
    )
    usage = x509.KeyUsage(
        digital_signature=not ca, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    return Authority(key, cert)


def svid(ca: Authority, spiffe_id: str) -> Authority:
    """An X509-SVID leaf of `spiffe_id` signed by `ca`: empty subject, one critical URI SAN."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]), critical=True
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Authority(key, cert)


def bundle_json(*certs: x509.Certificate, sequence: int | None, hint: int | None) -> bytes:
    return spiffebundle.encode(spiffebundle.SpiffeBundle(certs, sequence, hint))


def response(
    body: bytes, *, status: str = "200 OK", headers: dict[str, str] | None = None
) -> bytes:
    head = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    head |= headers or {}
    lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
    return f"HTTP/1.1 {status}\r\n{lines}Connection: close\r\n\r\n".encode() + body


class PeerServer:
    def __init__(self, *, trust_domain: str, workdir: Path) -> None:
        self.trust_domain = trust_domain
        self.endpoint_id = f"spiffe://{trust_domain}/meshtool/bundle-endpoint"
        self.ca = authority(f"{trust_domain} root")
        self.web_ca = pki.new_ca("peer web ca")
        self.web_ca_file = workdir / "web-ca.pem"
        workdir.mkdir(parents=True, exist_ok=True)
        self.web_ca_file.write_bytes(self.web_ca.cert_pem)
        self.port = processes.free_port()
        self.url = f"https://localhost:{self.port}/"
        self._dir = Path(tempfile.mkdtemp(dir=workdir))
        self.requests: list[tuple[float, str]] = []
        self.answer: Answer = lambda path: response(b"", status="503 Service Unavailable")
        self.slow: bool = False
        self._server: asyncio.Server | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}
        self.tls = "spiffe"
        self.handshakes = 0
        """TLS handshakes begun: counts attempts that never got as far as a request."""

    # -- what the endpoint presents ---------------------------------------------------------

    def _context(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> ssl.SSLContext:
        name = f"{len(self._contexts)}"
        cert_file, key_file = self._dir / f"{name}.crt", self._dir / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(pki.key_pem(key))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context

    def _make_contexts(self) -> None:
        leaf = svid(self.ca, self.endpoint_id)
        wrong = svid(self.ca, f"spiffe://{self.trust_domain}/someone-else")
        stranger = svid(authority("stranger root"), self.endpoint_id)
        web = pki.serving_cert(self.web_ca, hosts=("localhost",))
        self._contexts = {
            "spiffe": self._context(leaf.cert, leaf.key),
            "wrong-id": self._context(wrong.cert, wrong.key),
            "untrusted": self._context(stranger.cert, stranger.key),
            "web": self._context(web.cert, web.key),
        }

    def present(self, ca: Authority) -> None:
        """From now on, present an endpoint SVID issued by `ca` (the peer rotated its CA)."""
        leaf = svid(ca, self.endpoint_id)
        self._contexts["rotated"] = self._context(leaf.cert, leaf.key)
        self.tls = "rotated"

    def _pick(self, sslobj: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        self.handshakes += 1
        sslobj.context = self._contexts[self.tls]

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._make_contexts()
        web = pki.serving_cert(self.web_ca, hosts=("localhost",))
        front = self._context(web.cert, web.key)  # replaced per connection by _pick
        front.sni_callback = self._pick  # type: ignore[assignment]
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=front)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            path = head.split(b" ", 2)[1].decode()
            self.requests.append((time.monotonic(), path))
            if self.slow:
                await self._drip(writer)
            else:
                writer.write(self.answer(path))
                await writer.drain()
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _drip(self, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        )
        for _ in range(120):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.5)

    def count(self) -> int:
        return len(self.requests)


def huge(path: str) -> bytes:
    """A body over the limit without a Content-Length: the reader must stop by itself."""
    filler = b'{"keys":[' + b" " * (spiffebundle.MAX_BYTES + 4096) + b"]}"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    return head + filler


def redirect_loop(path: str) -> bytes:
    target = "/b" if path != "/b" else "/a"
    return response(b"", status="302 Found", headers={"Location": target})
