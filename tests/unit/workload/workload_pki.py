"""CAs from `meshtool.pki`, SVIDs issued by `pki.issue`, and kubelet-style credential folders."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from meshtool.clock import SystemClock
from meshtool.pki import ca as pki_ca
from meshtool.pki import issue as pki_issue
from meshtool.workload import folder

_ids = itertools.count(1)


def make_ca(trust_domain: str, key_type: str) -> pki_ca.CA:
    return pki_ca.generate_ca(
        ca_id=str(next(_ids)), name=trust_domain, key_type=key_type, clock=SystemClock()
    )


def root_pem(*cas: pki_ca.CA) -> bytes:
    return b"".join(c.root.public_bytes(serialization.Encoding.PEM) for c in cas)


def svid(ca: pki_ca.CA, spiffe_id: str, *, ed: bool = False) -> bytes:
    """A credential bundle (PKCS#8 key, then chain) for an X509-SVID issued by `ca`."""
    return _credential(ca, pki_issue.LeafProfile(uris=(spiffe_id,), extended_key_usages=_EKU), ed)


def serving_credential(ca: pki_ca.CA) -> bytes:
    """A credential bundle for a DNS-named serving certificate, as service-dns issues."""
    return _credential(ca, pki_issue.LeafProfile(dns_names=("server.demo.svc",)), False)


_EKU = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)


def _credential(ca: pki_ca.CA, profile: pki_issue.LeafProfile, ed: bool) -> bytes:
    key = ed25519.Ed25519PrivateKey.generate() if ed else ec.generate_private_key(ec.SECP256R1())
    leaf = pki_issue.issue_leaf(
        public_key=key.public_key(),
        profile=profile,
        max_expiration_seconds=3600,
        ca=ca,
        clock=SystemClock(),
    )
    assert isinstance(leaf, pki_issue.IssuedLeaf)
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pkcs8 + leaf.chain_pem.encode()


class Folder:
    """A credential folder as the kubelet keeps it: `name -> ..data/name`, `..data -> ..<n>`;
    each `write` is one atomic swap, and files it does not name are gone after it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._generation = itertools.count()
        root.mkdir(parents=True, exist_ok=True)

    def write(self, credential: bytes, **bundles: bytes) -> None:
        files = {folder.CREDENTIAL_BUNDLE: credential}
        files |= {f"{td}{folder.TRUST_BUNDLE_SUFFIX}": pem for td, pem in bundles.items()}
        target = self.root / f"..2026_01_01_{next(self._generation)}"
        target.mkdir()
        for name, data in files.items():
            (target / name).write_bytes(data)
        tmp = self.root / "..data_tmp"
        os.symlink(target.name, tmp)
        os.replace(tmp, self.root / "..data")  # the atomic swap
        for name in files:
            if not (self.root / name).is_symlink():
                os.symlink(f"..data/{name}", self.root / name)
        for link in self.root.iterdir():
            if link.is_symlink() and not link.name.startswith("..") and link.name not in files:
                link.unlink()  # the kubelet removes links to files no longer projected


def odd_leaf(
    *,
    uris: tuple[str, ...] = (),
    dns: tuple[str, ...] = (),
    is_ca: bool = False,
    eku: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.SERVER_AUTH,),
) -> x509.Certificate:
    """A self-signed certificate breaking whichever SVID rule the arguments say."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(d) for d in dns] + [x509.UniformResourceIdentifier(u) for u in uris]
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=True)
    return builder.sign(key, hashes.SHA256())
