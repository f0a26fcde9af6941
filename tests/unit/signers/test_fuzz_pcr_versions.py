"""Fuzzing the PCR reader of every served version at scale, through to every signer's decision.

Each target starts from what a kubelet of that version POSTs (`pcrforms.pcr_body`, every key
form the version allows, three key types) plus what the apiserver adds (name, uid,
resourceVersion, creationTimestamp, sometimes a status), then damages it with the seeded
`fuzzing.Mutator`: the JSON structure, the key bytes under the base64, or the base64 text.
`pcr.read` (the informer transform) must return one of its three entries, `pcr.parse` must
raise nothing but `MalformedRequest` naming the object, and a parsed request must get a decision
from each signer. `make fuzz` runs 100,000 inputs per version; `make test` a smoke share.
"""

from __future__ import annotations

import base64
import functools
import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from meshtool.api import MalformedRequest, pcr
from meshtool.api.types import Answered, KeyType, PodCertRequest, Unreadable
from meshtool.testing import fuzzing, pcrforms

from . import requests
from .test_fuzz import _decide_all

pytestmark = pytest.mark.fuzz

FORMS = {
    "v1": (pcrforms.KeyForm.STUB,),
    "v1beta1": (pcrforms.KeyForm.STUB, pcrforms.KeyForm.PKIX),
    "v1alpha1": (pcrforms.KeyForm.PKIX,),
}
KEY_TYPES = (KeyType.ECDSAP256, KeyType.ED25519, KeyType.RSA3072)
SIGNER = "row-major.net/spiffe"
KEY_FIELDS = ("stubPKCS10Request", "pkixPublicKey", "proofOfPossession")
STATUSES = (
    None,
    {"conditions": [{"type": "Issued", "status": "True", "reason": "Issued"}]},
    {"conditions": [{"type": "Denied", "status": "False"}]},
)


@functools.cache
def seeds(version: str) -> list[dict[str, Any]]:
    """Valid objects as the apiserver returns them, for every form and key type."""
    found = []
    for n, (form, key_type, status) in enumerate(
        itertools.product(FORMS[version], KEY_TYPES, STATUSES)
    ):
        obj = pcrforms.pcr_body(
            form,
            requests.TARGET,
            version=version,
            signer_name=SIGNER,
            key=requests.private_key(key_type),
            max_expiration_seconds=3600 + n,
            user_annotations={"example.com/note": "x"},
        )
        obj["metadata"].update(
            name=f"req-{n}", uid=f"uid-{n}", resourceVersion=str(n + 1),
            creationTimestamp="2026-01-01T00:00:00Z",
        )  # fmt: skip
        if status is not None:
            obj["status"] = status
        found.append(obj)
    return found


def inputs(version: str, total: int) -> Iterator[dict[str, Any]]:
    mutator = fuzzing.Mutator(fuzzing.seed() + len(version))
    bases = seeds(version)
    for _ in range(total):
        obj = mutator.rng.choice(bases)
        roll = mutator.rng.random()
        if roll < 0.35:
            yield _damage_key(mutator, obj)
        elif roll < 0.45:
            yield mutator.schema_valid(obj)
        else:
            yield mutator.json(obj)


def _damage_key(mutator: fuzzing.Mutator, obj: dict[str, Any]) -> dict[str, Any]:
    """Damage the DER under a key field's base64 (or, sometimes, the base64 text itself)."""
    out = {**obj, "spec": dict(obj["spec"])}
    field = next(f for f in KEY_FIELDS if f in out["spec"])
    text = out["spec"][field]
    if mutator.rng.random() < 0.2:
        out["spec"][field] = mutator.text(text)
        return out
    der = base64.b64decode(text)
    version = obj["apiVersion"].split("/")[1]
    donors = [base64.b64decode(b["spec"][field]) for b in seeds(version) if field in b["spec"]]
    out["spec"][field] = base64.b64encode(mutator.binary(der, donors=donors)).decode()
    return out


def check(obj: dict[str, Any]) -> str:
    entry = pcr.read(obj)
    assert isinstance(entry, Answered | PodCertRequest | Unreadable), entry
    if isinstance(entry, Answered):
        return "answered"
    try:
        parsed = pcr.parse(obj)
    except MalformedRequest as exc:
        assert isinstance(entry, Unreadable) and entry.error == str(exc)
        assert str(exc).startswith("PodCertificateRequest "), exc
        return "malformed"
    assert isinstance(entry, PodCertRequest) and entry.uid == parsed.uid
    pcr.needs_legacy_view(parsed)
    decisions = _decide_all(obj)
    assert len(decisions) == 3
    return "key-error" if parsed.key_error else "parsed"


@pytest.mark.parametrize("version", list(FORMS))
def test_every_version_reads_damaged_requests(version: str) -> None:
    assert all(pcr.read(obj) for obj in seeds(version))
    stats = fuzzing.run(f"pcr {version}", inputs(version, fuzzing.count()), check)
    assert fuzzing.problems(stats) == []
    # Every path is exercised: broken objects, readable ones, damaged keys and answered ones.
    for outcome in ("answered", "malformed", "key-error", "parsed"):
        assert stats.outcomes[outcome] > 0, stats.line()
