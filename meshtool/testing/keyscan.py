"""Finds private key material in text: logs, Events, anything a test collected.

A `KeyScanner` is told the secrets of a run (CA signing keys from pool files or Secrets, the
simulated kubelet's keys from its credential bundles) and then reports every `Leak` in a text:
- any PEM `... PRIVATE KEY` block header, whoever's key it is;
- the PKCS#8 DER of a known key, in standard or URL-safe base64 (any of the three byte
  alignments, so a piece cut out of a longer encoding is found too), or hex;
- the raw private values (an EC scalar, an Ed25519 seed, RSA's d, p, q and CRT values);
- the pool JSON of a CA pool Secret, base64-encoded as in its `data`, over its key fields.

Matching is by windows: every `WINDOW`-character piece of each encoding at a `STRIDE`, looked
up in a set while sliding over the text's base64/hex-looking runs, so any leaked stretch of at
least WINDOW + STRIDE - 1 characters (about 29 bytes) is found, in time linear in the text.
Pieces that public data also contains (the key's SubjectPublicKeyInfo, which PKCS#8 repeats for
EC and RSA, and the ASN.1 structure every key of that type shares) are not secrets and are left
out, so certificates and PCRs never count as leaks.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from meshtool.clock import SystemClock
from meshtool.pki import capool, pem
from meshtool.testing import pcrforms

WINDOW = 32
STRIDE = 8
_RUN = re.compile(rf"[A-Za-z0-9+/_-]{{{WINDOW},}}")
_PEM_KEY = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----")
PrivateKey = pcrforms.PrivateKey
PRIVATE_KEY_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)


@dataclass(frozen=True, slots=True)
class Leak:
    where: str
    """The text's label (a log file, "events")."""
    secret: str
    """Which secret: a key's label, or "a PEM private key block"."""
    form: str


def encodings(data: bytes) -> Iterator[tuple[str, str]]:
    """(form, text) of every encoding we look for; base64 at each byte alignment."""
    yield "hex", data.hex()
    for offset in range(3):
        text = base64.b64encode(data[offset:]).decode().rstrip("=")
        text = text[: len(text) - len(text) % 4]  # the tail depends on what follows
        yield "base64", text
        yield "base64url", text.replace("+", "-").replace("/", "_")


def windows(text: str) -> Iterator[str]:
    return (text[i : i + WINDOW] for i in range(0, len(text) - WINDOW + 1, STRIDE))


def all_windows(text: str) -> set[str]:
    return {text[i : i + WINDOW] for i in range(len(text) - WINDOW + 1)}


def pkcs8(key: PrivateKey) -> bytes:
    """The PKCS#8 DER of a key, as the kubelet and the pool files hold it."""
    return pem.blocks(pcrforms.private_key_pem(key))[0].der


spki = pcrforms.public_key_der


def raw_secrets(key: PrivateKey) -> list[bytes]:
    """The private values themselves, big-endian."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return [key.private_bytes_raw()]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        return [key.private_numbers().private_value.to_bytes(size, "big")]
    n = key.private_numbers()
    values = (n.d, n.p, n.q, n.dmp1, n.dmq1, n.iqmp)
    return [v.to_bytes((v.bit_length() + 7) // 8, "big") for v in values]


def sibling(key: PrivateKey) -> PrivateKey:
    """Another key of the same type, whose encodings show the shared structure. One per key
    type and size in a process: RSA's length fields vary with the key (d may be a byte shorter),
    so the scanner and a test must look at the same sibling to agree on what is structure."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return _sibling("ed25519", 0)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _sibling(key.curve.name, 0)
    return _sibling("rsa", key.key_size)


@functools.cache
def _sibling(kind: str, size: int) -> PrivateKey:
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "rsa":
        return rsa.generate_private_key(65537, size)
    return ec.generate_private_key(_CURVES[kind]())


_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
}


class KeyScanner:
    def __init__(self) -> None:
        self._needles: dict[str, tuple[str, str]] = {}
        self.labels: list[str] = []

    def add_key(self, label: str, key: PrivateKey) -> None:
        public = {w for data in (spki(key), pkcs8(sibling(key))) for w in _encoded_windows(data)}
        for form, text in encodings(pkcs8(key)):
            self._add(label, f"PKCS#8 {form}", windows(text), skip=public)
        for value in raw_secrets(key):
            for form, text in encodings(value):
                self._add(label, f"raw {form}", windows(text))
        self.labels.append(label)

    def add_pool(self, label: str, pool_json: bytes) -> None:
        """A pool's CA keys, and its JSON as a Secret's `data` holds it, over the key fields."""
        pool = capool.load(pool_json, clock=SystemClock(), allow_expired=True)
        for ca in pool.cas:
            self.add_key(f"{label} CA {ca.id}", ca.signing_key)
        spans = _key_spans(pool_json, pool)
        for offset in range(3):
            text = base64.b64encode(pool_json[offset:]).decode()
            for i in range(0, len(text) - WINDOW + 1, STRIDE):
                low, high = offset + i * 3 // 4, offset + (i + WINDOW) * 3 // 4
                if any(a <= low and high <= b for a, b in spans):
                    self._add(f"{label} pool JSON", "Secret data base64", [text[i : i + WINDOW]])

    def add_pem_keys(self, label: str, data: bytes) -> int:
        """Every PRIVATE KEY block in `data` (a credential bundle); returns how many."""
        keys = [b for b in pem.blocks(data) if b.type == pem.PRIVATE_KEY]
        for index, block in enumerate(keys, 1):
            key = serialization.load_der_private_key(block.der, None)
            if not isinstance(key, PRIVATE_KEY_TYPES):
                raise ValueError(f"{label}: unexpected key type {type(key).__name__}")
            self.add_key(f"{label} key {index}", key)
        return len(keys)

    def scan(self, where: str, text: str) -> list[Leak]:
        leaks = {
            Leak(where, "a PEM private key block", m.group(0)) for m in _PEM_KEY.finditer(text)
        }
        for run in _RUN.finditer(text):
            piece = run.group(0)
            for i in range(len(piece) - WINDOW + 1):
                found = self._needles.get(piece[i : i + WINDOW])
                if found is not None:
                    leaks.add(Leak(where, *found))
        return sorted(leaks, key=lambda leak: (leak.where, leak.secret, leak.form))

    def _add(
        self,
        label: str,
        form: str,
        pieces: Iterable[str],
        skip: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        for piece in pieces:
            if piece not in skip:
                self._needles.setdefault(piece, (label, form))


def _encoded_windows(data: bytes) -> Iterator[str]:
    for _, text in encodings(data):
        yield from all_windows(text)


def _key_spans(pool_json: bytes, pool: capool.CAPool) -> list[tuple[int, int]]:
    """Where each CA's base64 PKCS#8 key sits in the pool JSON (byte offsets)."""
    spans = []
    for ca in pool.cas:
        encoded = base64.b64encode(pkcs8(ca.signing_key))
        start = pool_json.find(encoded)
        if start >= 0:
            spans.append((start, start + len(encoded)))
    return spans
