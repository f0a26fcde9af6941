"""Throwaway CAs and kubelet-style projected files for the demo tests."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_HOST = "server.demo.svc"
CLIENT_ID = "spiffe://cluster.local/ns/demo/sa/client"
_serials = itertools.count(1000)


@dataclass
class Issued:
    key: Any
    cert: x509.Certificate

    def bundle(self, *chain: x509.Certificate) -> bytes:
        """The kubelet's credential bundle: PKCS#8 key, then leaf and `chain`."""
        key = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return key + b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in (self.cert, *chain)
        )

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def new_key(kind: str) -> Any:
    return (
        ed25519.Ed25519PrivateKey.generate()
        if kind == "ed25519"
        else ec.generate_private_key(ec.SECP256R1())
    )


def _sign(builder: x509.CertificateBuilder, key: Any) -> x509.Certificate:
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm)


def _base(
    subject: x509.Name, issuer: x509.Name, public_key: Any, expired: bool = False
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC) - (dt.timedelta(hours=2) if expired else dt.timedelta())
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(next(_serials))
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
    )


def make_ca(name: str, kind: str, *, issuer: Issued | None = None) -> Issued:
    """A root CA, or an intermediate CA when `issuer` is given."""
    key = new_key(kind)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    parent = issuer.cert.subject if issuer else subject
    builder = _base(subject, parent, key.public_key()).add_extension(
        x509.BasicConstraints(ca=True, path_length=None), critical=True
    )
    return Issued(key, _sign(builder, issuer.key if issuer else key))


def issue(
    ca: Issued,
    *,
    dns: tuple[str, ...] = (),
    uris: tuple[str, ...] = (),
    kind: str = "ecdsa",
    is_ca: bool = False,
    expired: bool = False,
    eku: tuple[x509.ObjectIdentifier, ...] = (
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ),
    extensions: tuple[x509.ExtensionType, ...] = (),
) -> Issued:
    """A leaf with an empty Subject and a critical SAN, as the meshtool signers issue."""
    key = new_key(kind)
    names = [x509.DNSName(d) for d in dns] + [x509.UniformResourceIdentifier(u) for u in uris]
    builder = (
        _base(x509.Name([]), ca.cert.subject, key.public_key(), expired)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return Issued(key, _sign(builder, ca.key))


class Projection:
    """A directory the way the kubelet maintains it: `name -> ..data/name`, `..data -> ..<n>`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._generation = itertools.count()
        root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> str:
        return str(self.root / name)

    def write(self, **files: bytes) -> None:
        target = self.root / f"..2026_01_01_{next(self._generation)}"
        target.mkdir()
        for name, data in files.items():
            (target / name).write_bytes(data)
        tmp = self.root / "..data_tmp"
        os.symlink(target.name, tmp)
        os.replace(tmp, self.root / "..data")  # the atomic swap
        for name in files:
            link = self.root / name
            if not link.is_symlink():
                os.symlink(f"..data/{name}", link)
