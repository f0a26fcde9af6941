"""Fuzzing the PEM reader at scale: `scan`, `blocks`, `certificates` and `credential`.

Seeds are what the code writes: a certificate bundle (`pem.encode` of a root and an
intermediate CA) and a credential bundle (a PKCS#8 key, then its chain). The seeded mutator
damages them line by line (lines dropped, doubled or swapped, BEGIN/END types changed, RFC 1421
headers, CRLF, junk between blocks), in the DER under one block, or byte by byte. Every reader
must return or raise `PemError` (a ValueError) with a message that holds no key material.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives import serialization

from meshtool.clock import FakeClock
from meshtool.pki import capool, pem
from meshtool.testing import fuzzing

from . import certs

# A negative serial number is deprecated (a warning today, a ValueError in a future cryptography,
# which PARSE_ERRORS already covers); pytest would turn the warning into an error.
pytestmark = [
    pytest.mark.fuzz,
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
]

READERS: tuple[Callable[[bytes], object], ...] = (
    pem.scan,
    pem.blocks,
    pem.certificates,
    pem.credential,
)
LINE_JUNK = (
    "Proc-Type: 4,ENCRYPTED",
    "",
    "-----END CERTIFICATE-----",
    "-----BEGIN PRIVATE KEY-----",
    "-----BEGIN  CERTIFICATE-----",
    "junk between blocks",
    "====",
    "-----END PRIVATE KEY-----\r",
)


@functools.cache
def seeds() -> list[bytes]:
    ca = capool.new_pool(ca_id="1", name="fuzz", key_type="ecdsa-p256", clock=FakeClock(certs.NOW))
    root = ca.signing_ca
    chained = certs.with_intermediate(certs.root_ca())
    key = root.signing_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    bundle = pem.encode([*chained.intermediates, chained.root]).encode()
    return [bundle, key + pem.encode([root.root]).encode()]


@functools.cache
def key_lines() -> frozenset[str]:
    """The base64 lines of the seed's private key: no error message may repeat one."""
    (key,) = [b for b in pem.blocks(seeds()[1]) if b.type == pem.PRIVATE_KEY]
    text = base64.b64encode(key.der).decode()
    return frozenset(text[i : i + 16] for i in range(0, len(text) - 16, 16))


def inputs(total: int) -> Iterator[bytes]:
    mutator = fuzzing.Mutator(fuzzing.seed())
    for _ in range(total):
        data = mutator.rng.choice(seeds())
        roll = mutator.rng.random()
        if roll < 0.4:
            yield _damage_lines(mutator, data)
        elif roll < 0.7:
            yield _damage_der(mutator, data)
        else:
            yield mutator.binary(data, donors=seeds())


def _damage_lines(mutator: fuzzing.Mutator, data: bytes) -> bytes:
    lines = data.decode().splitlines()
    for _ in range(mutator.rng.randint(1, 3)):
        at = mutator.rng.randrange(len(lines))
        pick = mutator.rng.randrange(5)
        if pick == 0:
            del lines[at]
        elif pick == 1:
            lines.insert(at, lines[at])
        elif pick == 2:
            lines.insert(at, mutator.rng.choice(LINE_JUNK))
        elif pick == 3:
            other = mutator.rng.randrange(len(lines))
            lines[at], lines[other] = lines[other], lines[at]
        else:
            lines[at] = mutator.text(lines[at])
    newline = mutator.rng.choice(("\n", "\r\n", "\n\n"))
    return newline.join(lines).encode("utf-8", "surrogatepass")


def _damage_der(mutator: fuzzing.Mutator, data: bytes) -> bytes:
    found = pem.blocks(data)
    target = mutator.rng.randrange(len(found))
    out = [
        pem.encode_block(b.type, mutator.binary(b.der, rounds=2) if i == target else b.der)
        for i, b in enumerate(found)
    ]
    return "".join(out).encode()


def check(data: bytes) -> str:
    accepted = 0
    for read in READERS:
        try:
            read(data)
            accepted += 1
        except pem.PemError as exc:
            message = str(exc)
            assert "\n" not in message and not any(line in message for line in key_lines()), exc
    return f"read by {accepted}"


def test_damaged_pem_is_read_or_refused_with_pem_error() -> None:
    assert [check(s) for s in seeds()] == ["read by 3", "read by 3"]
    stats = fuzzing.run("pem", inputs(fuzzing.count()), check)
    assert fuzzing.problems(stats) == [], stats.failures
    assert stats.outcomes["read by 1"] > 0 and stats.outcomes["read by 3"] > 0, stats.line()
