"""Looking at a running demo server from outside: which certificate does it present now?

The handshake itself is blocking `ssl` code, so `presented_certificate` runs it in a worker
thread: the demo's event loop also drives the kubelet simulator and must never stall.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

from cryptography import x509

from meshtool.pki import pem


async def presented_certificate(port: int, server_name: str) -> x509.Certificate:
    """The leaf the server on 127.0.0.1:`port` presents for SNI `server_name` (unverified:
    this only identifies which credential is live; the clients do the verifying)."""
    return await asyncio.to_thread(_handshake, port, server_name)


def _handshake(port: int, server_name: str) -> x509.Certificate:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


async def wait_listening(port: int, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if loop.time() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            await asyncio.sleep(0.2)


def describe(cert: x509.Certificate) -> str:
    """`DNS:a, DNS:b` or `URI:spiffe://...`: the identity a certificate carries."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "(no SANs)"
    names = [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)]
    names += [f"URI:{u}" for u in san.get_values_for_type(x509.UniformResourceIdentifier)]
    return ", ".join(names)


def leaf_of(bundle: Path) -> x509.Certificate:
    return pem.credential(bundle.read_bytes()).chain[0]
