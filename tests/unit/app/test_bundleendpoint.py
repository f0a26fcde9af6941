"""The bundle endpoint's listener on loopback with real TLS: the served bytes, the SVID
presented (verified by `ssl` against the served bundle), the context swap on renewal, and the
limits (slow clients, long lines, the connection cap, TLS versions)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from meshtool.api import spiffebundle, trustbundle
from meshtool.app import bundleendpoint, bundleroutes, endpointcreds
from meshtool.clock import FakeClock
from meshtool.controllers.metrics import Metrics
from meshtool.pki import capool, issue

SPIFFE = "row-major.net/spiffe"
SEQ = "spiffe.row-major.net/bundle-sequence"
ENDPOINT_ID = "spiffe://cluster.local/meshtool/bundle-endpoint"
ROUTES = bundleroutes.Routes(
    spiffe_signer=SPIFFE, signers=(SPIFFE,), sequence_annotation=SEQ, refresh_hint=60
)


class Endpoint:
    def __init__(self, limits: bundleendpoint.Limits | None = None) -> None:
        # 13 hours ago, so that the clock can reach a renewal and still match real time.
        self.clock = FakeClock(dt.datetime.now(dt.UTC) - dt.timedelta(hours=13))
        self.pool = capool.new_pool(ca_id="1", name=SPIFFE, key_type="ecdsa-p256", clock=self.clock)
        der = self.pool.signing_ca.root.public_bytes(Encoding.DER)
        self.bundle = trustbundle.TrustBundle(
            trustbundle.bundle_name(SPIFFE),
            SPIFFE,
            pem=trustbundle.trust_bundle_pem([der]),
            annotations={SEQ: "5"},
        )
        self.svids = endpointcreds.SvidSource(
            spiffe_id=ENDPOINT_ID,
            pool=lambda: self.pool,
            may_sign=lambda ca: True,
            lifetime=issue.LifetimePolicy(),
            clock=self.clock,
        )
        self.metrics = Metrics()
        self.server = bundleendpoint.BundleEndpoint(
            "127.0.0.1:0",
            routes=ROUTES,
            bundles=lambda name: self.bundle if name == SPIFFE else None,
            credentials=self.svids.current,
            metrics=self.metrics,
            limits=limits,
        )

    def client_context(self, pem: str | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cadata=pem or self.bundle.pem)
        ctx.check_hostname = False  # an X509-SVID names a SPIFFE ID, not a host
        return ctx

    async def get(self, request: bytes, ctx: ssl.SSLContext | None = None):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.server.port, ssl=ctx or self.client_context()
        )
        peer = x509.load_der_x509_certificate(
            writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        )
        writer.write(request)
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), head.decode(), body, peer


@pytest.fixture
async def endpoint():
    e = Endpoint()
    e.svids.refresh()
    await e.server.start()
    yield e
    await e.server.stop()


async def test_serves_the_bundle_over_tls_with_the_endpoint_svid(endpoint):
    status, head, body, peer = await endpoint.get(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200 and "Content-Type: application/json" in head
    bundle = spiffebundle.parse(body, now=endpoint.clock.now())
    assert (bundle.sequence, bundle.refresh_hint) == (5, 60)
    # The server chain verified (ssl, against the served bundle) and names the endpoint.
    assert peer.extensions.get_extension_for_class(x509.SubjectAlternativeName).value == (
        x509.SubjectAlternativeName([x509.UniformResourceIdentifier(ENDPOINT_ID)])
    )
    status, _, _, _ = await endpoint.get(b"POST / HTTP/1.1\r\n\r\n")
    assert status == 405
    requests = endpoint.metrics.bundle_endpoint_requests
    assert requests.labels("bundle", "200")._value.get() == 1


async def test_a_renewed_svid_is_used_from_the_next_handshake(endpoint):
    _, _, _, before = await endpoint.get(b"GET /healthz HTTP/1.1\r\n\r\n")
    endpoint.clock.advance(13 * 3600)
    assert endpoint.svids.refresh()
    _, _, _, after = await endpoint.get(b"GET /healthz HTTP/1.1\r\n\r\n")
    assert before.serial_number != after.serial_number
    assert after.serial_number == endpoint.svids.certificate.serial_number


async def test_tls_1_2_speaks_an_intermediate_suite(endpoint):
    assert bundleendpoint.server_context().minimum_version == ssl.TLSVersion.TLSv1_2
    ctx = endpoint.client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    _, writer = await asyncio.open_connection("127.0.0.1", endpoint.server.port, ssl=ctx)
    cipher, version, _ = writer.get_extra_info("cipher")
    writer.close()
    assert version == "TLSv1.2" and cipher in bundleendpoint.INTERMEDIATE_CIPHERS.split(":")


async def test_long_lines_and_too_many_headers_are_431(endpoint):
    status, *_ = await endpoint.get(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")
    assert status == 431
    status, *_ = await endpoint.get(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 65 + b"\r\n")
    assert status == 431
    status, *_ = await endpoint.get(b"nonsense\r\n\r\n")
    assert status == 400


async def test_a_silent_client_is_answered_408_and_closed():
    e = Endpoint(bundleendpoint.Limits(read_timeout=0.2))
    e.svids.refresh()
    await e.server.start()
    try:
        status, *_ = await e.get(b"GET / HTTP/1.1\r\n")  # never ends its headers
        assert status == 408
    finally:
        await e.server.stop()


async def test_over_the_connection_cap_connections_are_closed():
    e = Endpoint(bundleendpoint.Limits(max_connections=1, read_timeout=2))
    e.svids.refresh()
    await e.server.start()
    try:
        ctx = e.client_context()
        _, holder = await asyncio.open_connection("127.0.0.1", e.server.port, ssl=ctx)
        await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", e.server.port, ssl=ctx)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 5) == b""
        holder.close()
        writer.close()
        refused = e.metrics.bundle_endpoint_requests.labels("other", "refused")
        assert refused._value.get() == 1
    finally:
        await e.server.stop()


async def test_no_certificate_no_handshake():
    e = Endpoint()
    await e.server.start()
    try:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await e.get(b"GET / HTTP/1.1\r\n\r\n")
    finally:
        await e.server.stop()
