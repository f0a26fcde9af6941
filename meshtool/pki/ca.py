"""CAs and CA pools as values, and making a fresh CA: what a signer signs with.

A `CA` is a signing key, its root and optional intermediates (leaf side first). It derives
what issuance needs (issuer name, AuthorityKeyIdentifier, signature hash, the intermediates'
PEM) once at construction, so issuing a leaf re-encodes nothing. A `CAPool` is a non-empty
tuple of CAs with unique ids; `cas[0]` signs and every root is a trust anchor.

Each CA has a lifecycle role (`Role`): active (signs; exactly one, always `cas[0]`), prepared
(trusted and published, not signing yet) or retired (trusted until the last leaf it signed has
expired). A CA loaded from a pool without recorded state has `state=None` and an inferred role:
the first is active, the others prepared (the Go tool's "add at the end, then move it first").
`meshtool.pki.lifecycle` holds the transitions between roles.

Invariants checked here: a pool is non-empty with unique ids, the CA with a recorded active role
is `cas[0]` and no other is recorded active, and a CA key is Ed25519, RSA or ECDSA on
P-256/384/521. Chain and key-match checks of stored pools, and the JSON form, are
`meshtool.pki.capool`'s job (which also re-exports everything here). No I/O here.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from meshtool.clock import Clock
from meshtool.pki import leafder

KEY_TYPES = ("ed25519", "ecdsa-p256")

SigningKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
HashAlgorithm = hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None

CURVE_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}
_CA_BACKDATE = dt.timedelta(minutes=5)
_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


class CAPoolError(ValueError):
    pass


class Role(enum.StrEnum):
    ACTIVE = "active"
    PREPARED = "prepared"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class CAState:
    """A CA's recorded role and when it entered each stage (aware UTC, whole seconds)."""

    role: Role
    prepared_at: dt.datetime | None = None
    published_at: dt.datetime | None = None
    """When the rotation controller first saw the root in the published trust bundles."""
    activated_at: dt.datetime | None = None
    retired_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class CA:
    id: str
    signing_key: SigningKey
    root: x509.Certificate
    intermediates: tuple[x509.Certificate, ...] = ()
    state: CAState | None = None
    """None: no recorded lifecycle state (a pool written by the Go tool or before it)."""

    # Derived once in __post_init__ for the issuance hot path.
    issuer_name: x509.Name = field(init=False, repr=False, compare=False)
    authority_key_identifier: x509.AuthorityKeyIdentifier = field(
        init=False, repr=False, compare=False
    )
    hash_algorithm: HashAlgorithm = field(init=False, repr=False, compare=False)
    intermediates_pem: str = field(init=False, repr=False, compare=False)
    root_der: bytes = field(init=False, repr=False, compare=False)
    """The root's DER: asked on every issuance (is this root published?)."""
    leaf_signer: leafder.Signer = field(init=False, repr=False, compare=False)
    _not_after: dt.datetime = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        issuer = self.issuer_cert
        aki, hash_algorithm = _authority_key_identifier(self), hash_for(self.signing_key, self.id)
        derived = {
            "issuer_name": issuer.subject,
            "authority_key_identifier": aki,
            "hash_algorithm": hash_algorithm,
            "intermediates_pem": "".join(
                cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
                for cert in self.intermediates
            ),
            "root_der": self.root.public_bytes(serialization.Encoding.DER),
            "_not_after": min(c.not_valid_after_utc for c in (self.root, *self.intermediates)),
        }
        derived["leaf_signer"] = leafder.signer_for(
            self.signing_key, hash_algorithm, issuer.subject, aki
        )
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def issuer_cert(self) -> x509.Certificate:
        """The certificate whose key signs leaves: the first intermediate, else the root."""
        return self.intermediates[0] if self.intermediates else self.root

    @property
    def not_after(self) -> dt.datetime:
        """When the first certificate of the CA's chain expires (aware UTC)."""
        return self._not_after

    @property
    def not_before(self) -> dt.datetime:
        return self.issuer_cert.not_valid_before_utc


@dataclass(frozen=True, slots=True)
class CAPool:
    cas: tuple[CA, ...]
    """Non-empty, ids unique; `cas[0]` signs."""

    def __post_init__(self) -> None:
        if not self.cas:
            raise CAPoolError("pool: CAs: the pool is empty")
        seen: set[str] = set()
        for ca in self.cas:
            if ca.id in seen:
                raise CAPoolError(f"{label(ca.id)}: ID: duplicate CA id")
            seen.add(ca.id)
        for index, ca in enumerate(self.cas):
            if ca.state is not None and (ca.state.role is Role.ACTIVE) != (index == 0):
                raise CAPoolError(f"{label(ca.id)}: Role: the active CA must be first, and only it")

    def role(self, ca: CA) -> Role:
        """The recorded role, else the inferred one (first active, the others prepared)."""
        if ca.state is not None:
            return ca.state.role
        return Role.ACTIVE if ca is self.cas[0] else Role.PREPARED

    def get(self, ca_id: str) -> CA:
        for ca in self.cas:
            if ca.id == ca_id:
                return ca
        raise CAPoolError(f"{label(ca_id)}: no such CA in the pool")

    @property
    def signing_ca(self) -> CA:
        return self.cas[0]

    def trust_anchors(self) -> tuple[x509.Certificate, ...]:
        """The roots of all CAs, de-duplicated by DER, in pool order."""
        by_der = {ca.root.public_bytes(serialization.Encoding.DER): ca.root for ca in self.cas}
        return tuple(by_der.values())


def generate_ca(
    *,
    ca_id: str,
    name: str,
    key_type: str = "ed25519",
    clock: Clock,
    validity: dt.timedelta = dt.timedelta(days=365),
    parent: CA | None = None,
    constraints: x509.NameConstraints | None = None,
    state: CAState | None = None,
) -> CA:
    """A fresh CA whose subject CN is "<name> CA <ca_id>": a self-signed root, or with `parent`
    an intermediate signed by the parent's issuing key (whose root becomes this CA's root; the
    parent's key stays wherever the parent pool is kept). `constraints` are added critical."""
    if not ca_id:
        raise ValueError("CA id must not be empty")
    key = _generate_key(key_type)
    now = clock.now().astimezone(dt.UTC).replace(microsecond=0)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _common_name(name, ca_id))])
    not_after = now + dt.timedelta(seconds=validity // dt.timedelta(seconds=1))
    issuer_key: SigningKey = parent.signing_key if parent else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(parent.issuer_name if parent else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CA_BACKDATE)
        .not_valid_after(min(not_after, parent.not_after) if parent else not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if parent is not None:
        builder = builder.add_extension(parent.authority_key_identifier, critical=False)
    if constraints is not None:
        builder = builder.add_extension(constraints, critical=True)
    cert = builder.sign(issuer_key, hash_for(issuer_key, ca_id))
    if parent is None:
        return CA(id=ca_id, signing_key=key, root=cert, state=state)
    chain = (cert, *parent.intermediates)
    return CA(id=ca_id, signing_key=key, root=parent.root, intermediates=chain, state=state)


def new_pool(
    *,
    ca_id: str,
    name: str,
    key_type: str = "ed25519",
    clock: Clock,
    validity: dt.timedelta = dt.timedelta(days=365),
) -> CAPool:
    ca = generate_ca(ca_id=ca_id, name=name, key_type=key_type, clock=clock, validity=validity)
    return CAPool((ca,))


def key_type_of(key: SigningKey) -> str:
    """The `KEY_TYPES` name that regenerates a key like `key` (ECDSA P-256 for any other)."""
    return "ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "ecdsa-p256"


def name_of(ca: CA) -> str:
    """The signer name in a CN made by `generate_ca` ("<name> CA <id>"), else the CN."""
    cns = ca.issuer_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else ""
    return cn.rsplit(" CA ", 1)[0] if " CA " in cn else cn


def _generate_key(key_type: str) -> SigningKey:
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported CA key type {key_type!r}; use one of {', '.join(KEY_TYPES)}")


def hash_for(key: SigningKey, ca_id: str) -> HashAlgorithm:
    """The signature hash for a CA key: none for Ed25519, by curve size for ECDSA."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in CURVE_HASHES:
        return CURVE_HASHES[key.curve.name]()
    raise CAPoolError(f"{label(ca_id)}: SigningKeyPKCS8: unsupported key type")


def _common_name(name: str, ca_id: str) -> str:
    # X.520 caps a CN at 64 characters; the signer name is the part we shorten.
    suffix = f"CA {ca_id}"
    room = 64 - len(suffix) - 1
    if not name or room <= 0:
        return suffix[:64]
    return f"{name[:room]} {suffix}"


def _authority_key_identifier(ca: CA) -> x509.AuthorityKeyIdentifier:
    """The issuer's SKI if it has one, else derived from its key (which is the signing key)."""
    try:
        ext = ca.issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.signing_key.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ext.value)


def label(ca_id: str) -> str:
    """How error messages name a CA: `CA "<id>"`."""
    return f'CA "{ca_id}"'
