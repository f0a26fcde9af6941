"""The SPIFFE bundle endpoint of a running controller, fetched over real TLS.

https_spiffe: the server chain is verified by `ssl` against the bundle it serves, and its one
URI SAN is the endpoint's SPIFFE ID; the bundle at `/` parses with `api.spiffebundle` and with
go-spiffe (tools/spiffebundle-v2.9), its sequence is the CTB's annotation and grows when
`meshtool ca prepare` adds a CA; the anchors (.p7c, .pem) equal the CTB's roots; once the new
CA is activated, the endpoint presents an X509-SVID it signed. https_web: the certificate
comes from files and a replaced pair is served from the next handshake on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from meshtool.api import anchorpaths, spiffebundle, trustbundle
from meshtool.clock import SystemClock
from meshtool.kube import resources
from meshtool.pki import capool, issue, pem
from meshtool.testing import binaries
from meshtool.testing.pytest_plugin import SKIP_HINT, in_ci

from . import rotationkit
from .conftest import eventually, signer_name

pytestmark = pytest.mark.all_versions

SPIFFE = signer_name("spiffe")
ENDPOINT_ID = "spiffe://cluster.local/meshtool/bundle-endpoint"
SEQUENCE = "spiffe.row-major.net/bundle-sequence"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Fetched:
    def __init__(self, status: int, body: bytes, peer: list[x509.Certificate]) -> None:
        self.status, self.body, self.peer = status, body, peer


async def fetch(port: int, path: str, ctx: ssl.SSLContext, host: str | None = None) -> Fetched:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=host), 10
    )
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bundles\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return Fetched(int(head.split()[1]), body, [x509.load_der_x509_certificate(der)])


def trusting(bundle_pem: str, *, hostname: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=bundle_pem)
    ctx.check_hostname = hostname  # an X509-SVID names a SPIFFE ID, not a host
    return ctx


async def published(kube: Any, ctb_version: str) -> trustbundle.TrustBundle:
    obj = await kube.get(
        resources.cluster_trust_bundles(ctb_version), trustbundle.bundle_name(SPIFFE)
    )
    return trustbundle.parse(obj)


def go_spiffe(body: bytes) -> dict[str, str]:
    try:
        tool = binaries.spiffebundle_check()
    except binaries.BinariesUnavailable as exc:
        if in_ci():
            raise
        pytest.skip(f"{SKIP_HINT}: {exc}")
    done = subprocess.run(
        [str(tool), "cluster.local"], input=body, capture_output=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return dict(line.split("=", 1) for line in done.stdout.decode().splitlines())


def ders(certs: Any) -> list[bytes]:
    return sorted(c.public_bytes(Encoding.DER) for c in certs)


@pytest.fixture
async def pool_secret(kube, controller_kubeconfig, pools):
    secret = rotationkit.PoolSecret(kube, pools["spiffe"])
    yield secret
    await secret.close()


async def test_https_spiffe_endpoint_serves_the_bundle_and_follows_a_rotation(
    kube, ctb_version, control_plane, start_controller, pool_secret
):
    await pool_secret.create(
        capool.new_pool(ca_id="1", name=SPIFFE, key_type="ecdsa-p256", clock=SystemClock())
    )
    port = free_port()
    await start_controller(
        *rotationkit.SECRET_FLAG, "--disable-ca-rotation", "--bundle-refresh-hint", "120",
        "--bundle-endpoint-listen", f"127.0.0.1:{port}", signers=("spiffe",),
    )  # fmt: skip
    ctb = await published(kube, ctb_version)
    served = await fetch(port, "/", trusting(ctb.pem))  # the handshake verified the chain
    assert served.status == 200
    san = served.peer[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier(ENDPOINT_ID)]
    bundle = spiffebundle.parse(served.body, now=dt.datetime.now(dt.UTC))
    assert ders(bundle.x509_authorities) == ders(pem.certificates(ctb.pem))
    assert (bundle.sequence, bundle.refresh_hint) == (int(ctb.annotations[SEQUENCE]), 120)
    assert go_spiffe(served.body) == {
        "trust_domain": "cluster.local",
        "x509_authorities": "1",
        "sequence": str(bundle.sequence),
        "refresh_hint": "120",
    }
    for fmt in ("p7c", "pem"):
        anchors = await fetch(port, anchorpaths.path(SPIFFE, fmt), trusting(ctb.pem))
        assert anchors.status == 200
        read = (
            pkcs7.load_der_pkcs7_certificates(anchors.body)
            if fmt == "p7c"
            else pem.certificates(anchors.body)
        )
        assert ders(read) == ders(pem.certificates(ctb.pem))

    admin = control_plane.kubeconfig
    done = await rotationkit.ca(admin, "prepare", "--validity", "20d")
    assert done.returncode == 0, done.stderr
    first = bundle.sequence or 0

    async def grown() -> bool:
        again = await fetch(port, "/", trusting(ctb.pem))
        now = spiffebundle.parse(again.body, now=dt.datetime.now(dt.UTC))
        return len(now.x509_authorities) == 2 and (now.sequence or 0) > first

    await eventually(grown, timeout=30, what="the served bundle to carry the prepared CA")
    both = await published(kube, ctb_version)
    assert go_spiffe((await fetch(port, "/", trusting(both.pem))).body)["x509_authorities"] == "2"

    done = await rotationkit.ca(admin, "activate", "2")
    assert done.returncode == 0, done.stderr
    new_root = (await pool_secret.current()).get("2").root

    async def renewed() -> bool:
        svid = (await fetch(port, "/healthz", trusting(both.pem))).peer[0]
        return svid.issuer == new_root.subject

    await eventually(renewed, timeout=30, what="an X509-SVID signed by the activated CA")


def web_certificate(folder: Path, ca: capool.CA) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue.issue_leaf(
        public_key=key.public_key(),
        profile=issue.LeafProfile(dns_names=("localhost",)),
        max_expiration_seconds=7200,
        ca=ca,
        clock=SystemClock(),
    )
    assert isinstance(leaf, issue.IssuedLeaf)
    for name, data in (("tls.key.new", _pkcs8(key)), ("tls.crt.new", leaf.chain_pem.encode())):
        (folder / name).write_bytes(data)
    # Key first, then certificate: a reader never sees a certificate without its key for long.
    (folder / "tls.key.new").replace(folder / "tls.key")
    (folder / "tls.crt.new").replace(folder / "tls.crt")
    return leaf.certificate


def _pkcs8(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


async def test_https_web_endpoint_serves_from_files_and_follows_them(
    kube, ctb_version, start_controller, tmp_path
):
    web_ca = capool.new_pool(ca_id="web", name="web", key_type="ecdsa-p256", clock=SystemClock())
    ca = web_ca.signing_ca
    first = web_certificate(tmp_path, ca)
    port = free_port()
    await start_controller(
        "--bundle-endpoint-listen", f"127.0.0.1:{port}", "--bundle-endpoint-profile", "https_web",
        "--bundle-endpoint-cert-file", str(tmp_path / "tls.crt"),
        "--bundle-endpoint-key-file", str(tmp_path / "tls.key"), signers=("spiffe",),
    )  # fmt: skip
    web = pem.encode([ca.root])
    served = await fetch(port, "/", trusting(web, hostname=True), host="localhost")
    assert served.status == 200 and served.peer[0] == first
    ctb = await published(kube, ctb_version)
    bundle = spiffebundle.parse(served.body, now=dt.datetime.now(dt.UTC))
    assert ders(bundle.x509_authorities) == ders(pem.certificates(ctb.pem))
    assert go_spiffe(served.body)["x509_authorities"] == "1"

    second = web_certificate(tmp_path, ca)

    async def reloaded() -> bool:
        got = await fetch(port, "/healthz", trusting(web, hostname=True), host="localhost")
        return got.peer[0] == second

    await eventually(reloaded, timeout=30, what="the endpoint to serve the replaced certificate")
