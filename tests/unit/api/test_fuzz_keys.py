"""Fuzzing the two key forms at scale: stub PKCS#10 requests and PKIX SubjectPublicKeyInfos.

The seeds are real DER from every key type Kubernetes allows and three it does not (RSA2048,
Ed448, secp256k1), built as kubelets build them (`wireforms`); the seeded mutator damages the
DER (bit flips, truncation, splices between seeds, ASN.1 length bytes). `keys.from_stub` and
`keys.from_pkix` must never raise: every input is a key (then `describe`, `classify` and
`fingerprint` must work on it) or a `KeyInfo` with an error naming the field. The apiserver
checks the proof of possession before we see a request, so we extract the key and no more.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Iterator

import pytest

from api import wireforms as wf
from meshtool.api import keys
from meshtool.api.types import KeySource
from meshtool.testing import fuzzing

pytestmark = pytest.mark.fuzz

KINDS = [*wf.KEY_TYPES, *wf.UNSUPPORTED]
FORMS: dict[str, tuple[Callable[..., bytes], Callable[[str], keys.KeyInfo], KeySource]] = {
    "csr": (wf.stub_csr_der, keys.from_stub, KeySource.STUB_PKCS10),
    "spki": (wf.pkix_der, keys.from_pkix, KeySource.PKIX),
}


@functools.cache
def seeds(form: str) -> list[bytes]:
    encode = FORMS[form][0]
    return [encode(wf.private_key(kind)) for kind in KINDS]


def inputs(form: str, total: int) -> Iterator[str]:
    mutator = fuzzing.Mutator(fuzzing.seed() + len(form))
    donors = seeds("csr") + seeds("spki")
    for _ in range(total):
        der = mutator.rng.choice(seeds(form))
        damaged = mutator.binary(der, rounds=4, donors=donors)
        yield base64.b64encode(damaged).decode()


def checker(form: str) -> Callable[[str], str]:
    read, source = FORMS[form][1], FORMS[form][2]

    def check(b64: str) -> str:
        info = read(b64)
        assert info.source is source
        if info.public_key is None:
            assert info.error is not None and info.error.startswith(f"spec.{source.value} is not")
            return "unreadable"
        assert info.error is None
        assert keys.classify(info.public_key) is info.key_type
        assert keys.describe(info.public_key)
        keys.spki_der(info.public_key)
        return "supported" if info.key_type is not None else "unsupported"

    return check


@pytest.mark.parametrize("form", list(FORMS))
def test_damaged_keys_are_read_or_refused_with_a_reason(form: str) -> None:
    for der in seeds(form):
        assert checker(form)(base64.b64encode(der).decode()) in ("supported", "unsupported")
    stats = fuzzing.run(f"key {form}", inputs(form, fuzzing.count()), checker(form))
    assert fuzzing.problems(stats) == []
    assert stats.outcomes["unreadable"] > 0 and stats.outcomes["supported"] > 0, stats.line()
