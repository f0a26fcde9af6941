"""Fuzzing the CA pool JSON loader at scale.

Seeds are pools the code itself writes (`capool.dump`): Ed25519 and ECDSA single-CA pools, a
rotating pool (active and prepared CAs with lifecycle state) and a CA with an intermediate. The
seeded mutator damages the JSON tree (fields deleted, retyped, odd unicode IDs, huge values),
the DER under a base64 field, or the JSON bytes themselves. `capool.load` must return a pool or
raise `CAPoolError` with a one-line message; a pool it accepts must dump and load back to the
same bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from meshtool.clock import FakeClock
from meshtool.pki import capool
from meshtool.testing import fuzzing

from . import certs

# A negative serial number is deprecated (a warning today, a ValueError in a future cryptography,
# which the loader already refuses); pytest would turn the warning into an error.
pytestmark = [
    pytest.mark.fuzz,
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
]

CLOCK = FakeClock(certs.NOW)
B64_FIELDS = ("SigningKeyPKCS8", "RootCertificateDER")


@functools.cache
def seeds() -> list[bytes]:
    ed = capool.new_pool(ca_id="ed", name="fuzz", clock=CLOCK)
    ec = capool.new_pool(ca_id="ec", name="fuzz", key_type="ecdsa-p256", clock=CLOCK)
    active = capool.CAState(
        role=capool.Role.ACTIVE, activated_at=CLOCK.now().replace(microsecond=0)
    )
    prepared = capool.CAState(role=capool.Role.PREPARED, prepared_at=active.activated_at)
    rotating = capool.CAPool(
        (
            capool.generate_ca(ca_id="a", name="fuzz", clock=CLOCK, state=active),
            capool.generate_ca(ca_id="b", name="fuzz", clock=CLOCK, state=prepared),
        )
    )
    root = ed.signing_ca
    chained = capool.CAPool(
        (capool.generate_ca(ca_id="i", name="fuzz", clock=CLOCK, parent=root, validity=_short()),)
    )
    return [capool.dump(p) for p in (ed, ec, rotating, chained)]


def _short() -> dt.timedelta:
    return dt.timedelta(days=30)


def inputs(total: int) -> Iterator[bytes]:
    mutator = fuzzing.Mutator(fuzzing.seed())
    for _ in range(total):
        data = mutator.rng.choice(seeds())
        roll = mutator.rng.random()
        if roll < 0.4:
            yield _dumps(mutator.json(json.loads(data), rounds=3))
        elif roll < 0.7:
            yield _damage_der(mutator, json.loads(data))
        else:
            yield mutator.binary(data, donors=seeds())


def _dumps(wire: Any) -> bytes:
    """JSON text, huge integers included (the loader must refuse those digits itself)."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return json.dumps(wire, ensure_ascii=False).encode()
    finally:
        sys.set_int_max_str_digits(limit)


def _damage_der(mutator: fuzzing.Mutator, wire: dict[str, Any]) -> bytes:
    entry = mutator.rng.choice(wire["CAs"])
    name = mutator.rng.choice([f for f in B64_FIELDS if f in entry])
    der = base64.b64decode(entry[name])
    entry[name] = base64.b64encode(mutator.binary(der, rounds=2)).decode()
    return _dumps(wire)


def check(data: bytes) -> str:
    try:
        pool = capool.load(data, clock=CLOCK)
    except capool.CAPoolError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message, message
        return "refused"
    dumped = capool.dump(pool)
    assert capool.dump(capool.load(dumped, clock=CLOCK)) == dumped
    return "loaded"


def test_damaged_pools_load_or_are_refused_with_one_line() -> None:
    assert all(check(seed) == "loaded" for seed in seeds())
    stats = fuzzing.run("capool json", inputs(fuzzing.count()), check)
    assert fuzzing.problems(stats) == [], stats.failures
    assert stats.outcomes["refused"] > 0 and stats.outcomes["loaded"] > 0, stats.line()
