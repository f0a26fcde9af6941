"""Certificate and key builders for the pki tests (not a test module)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from meshtool.pki import capool

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, 750_000, tzinfo=dt.UTC)
"""The tests' clock start; deliberately not a whole second."""

SigningKey = capool.SigningKey


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def key_usage(*, cert_sign: bool = True, digital_signature: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def hash_for(key: SigningKey) -> capool.HashAlgorithm:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_size: dict[int, capool.HashAlgorithm] = {
            256: hashes.SHA256(),
            384: hashes.SHA384(),
            521: hashes.SHA512(),
        }
        return by_size[key.key_size]
    return hashes.SHA256()


def make_cert(
    *,
    key: SigningKey,
    subject: x509.Name,
    issuer_key: SigningKey | None = None,
    issuer: x509.Name | None = None,
    not_before: dt.datetime = NOW - dt.timedelta(days=1),
    not_after: dt.datetime = NOW + dt.timedelta(days=365),
    ca: bool | None = True,
    path_length: int | None = None,
    usage: x509.KeyUsage | None = None,
    ski: bool = True,
) -> x509.Certificate:
    """A certificate for `key`, self-signed unless `issuer_key`/`issuer` are given."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca, path_length), critical=True)
    if ca:
        builder = builder.add_extension(usage or key_usage(), critical=True)
    if ski:
        ski_value = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        builder = builder.add_extension(ski_value, critical=False)
    signer = issuer_key or key
    return builder.sign(signer, hash_for(signer))


def root_ca(
    key: SigningKey | None = None,
    *,
    ca_id: str = "1",
    not_after: dt.datetime = NOW + dt.timedelta(days=365),
) -> capool.CA:
    key = key or ed25519.Ed25519PrivateKey.generate()
    root = make_cert(key=key, subject=name(f"root {ca_id}"), not_after=not_after)
    return capool.CA(id=ca_id, signing_key=key, root=root)


def with_intermediate(
    ca: capool.CA,
    key: SigningKey | None = None,
    *,
    not_after: dt.datetime = NOW + dt.timedelta(days=300),
) -> capool.CA:
    """`ca` with a new intermediate under its issuer; the intermediate's key signs."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(
        key=key,
        subject=name(f"intermediate {len(ca.intermediates) + 1} of {ca.id}"),
        issuer_key=ca.signing_key,
        issuer=ca.issuer_cert.subject,
        not_after=not_after,
    )
    return capool.CA(ca.id, key, ca.root, (cert, *ca.intermediates))


def subject_key(kind: str, rsa_keys: dict[int, rsa.RSAPrivateKey]) -> SigningKey:
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind.startswith("p"):
        curve = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1()}[kind]
        return ec.generate_private_key(curve)
    return rsa_keys[int(kind.removeprefix("rsa"))]


SUBJECT_KEY_KINDS = ("ed25519", "p256", "p384", "p521", "rsa3072", "rsa4096")
