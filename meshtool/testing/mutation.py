"""A seeded structured mutator: damage to JSON trees, strings and bytes, reproducible by seed.

`Mutator.json` changes a few fields of a JSON tree (delete, null, retype, odd unicode, huge
strings and integers, unknown keys, deep nesting); `Mutator.schema_valid` only swaps values for
odd ones of the same JSON type (what a real apiserver could still send); `Mutator.binary`
damages DER, PEM or wire bytes (bit flips, truncation, splices, ASN.1 length bytes). Every
choice comes from one `random.Random(seed)`, so the i-th input of a run is the same on every
machine; the input given is never changed (the JSON mutations work on a deep copy). The runner
that feeds these inputs to checks and times them is `testing.fuzzing`.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterable
from typing import Any

Path = tuple[Any, ...]

ODD_TEXT = (
    "",
    " ",
    "\x00",
    "\t\n",
    "é",
    "日本語",
    "\u202eevil",
    "\ufeffbom",
    "🙂",
    "a\u0301",
    "../../etc",
    "a..b",
    ".lead",
    "trail.",
    "%00",
    "-----BEGIN CERTIFICATE-----",
    "spiffe://x/../y",
    "\ud7ff\ue000\uffff",
    "\U0010ffff",
)
ODD_INTS = (0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**63, 2**64, -(2**63), 10**30)
HUGE_INT = 10**5000
"""Past Python's 4300-digit limit: `str()` and `repr()` of it raise ValueError."""
ASN1_TAGS = frozenset({0x02, 0x03, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x17, 0x30, 0x31, 0xA0, 0xA3})
INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFF)


class Mutator:
    """Seeded damage to JSON trees, strings and bytes."""

    def __init__(self, seed_value: int) -> None:
        self.rng = random.Random(seed_value)

    # --- JSON ----------------------------------------------------------------------------

    def json(self, value: Any, *, rounds: int = 4) -> Any:
        """A deep copy of `value` with 1..rounds fields damaged, types not kept."""
        out = copy.deepcopy(value)
        for _ in range(self.rng.randint(1, rounds)):
            out = self._change(out, self._any_value)
        return out

    def schema_valid(self, value: Any, *, rounds: int = 4) -> Any:
        """A deep copy with 1..rounds values replaced by odd ones of the same JSON type."""
        out = copy.deepcopy(value)
        for _ in range(self.rng.randint(1, rounds)):
            out = self._change(out, self._same_type, deletes=False)
        return out

    def _change(self, root: Any, new: Callable[[Any], Any], *, deletes: bool = True) -> Any:
        paths = _paths(root)
        path = self.rng.choice(paths[1:] or paths)  # the root keeps its type while it can
        if not path:  # an empty object stays an object
            return {self.text(): new(None)} if isinstance(root, dict) else new(root)
        parent = _get(root, path[:-1])
        leaf = path[-1]
        roll = self.rng.random()
        if deletes and roll < 0.2 and isinstance(parent, dict):
            del parent[leaf]
        elif deletes and roll < 0.3 and isinstance(parent, dict):
            parent[self.text()] = self._any_value(None)
        else:
            parent[leaf] = new(parent[leaf])
        return root

    def _any_value(self, old: Any) -> Any:
        pick = self.rng.randrange(10)
        if pick == 0:
            return None
        if pick == 1:
            return self.rng.choice((True, False))
        if pick == 2:
            return self.integer()
        if pick == 3:
            return self.rng.choice((0.5, -0.0, 1e308, -1e-308, 3.0))
        if pick == 4:
            return [self._any_value(None) for _ in range(self.rng.randrange(3))]
        if pick == 5:
            return {self.text(): self.text() for _ in range(self.rng.randrange(3))}
        if pick == 6:
            return self._nested(self.rng.randrange(1, 60))
        return self._same_type(old)

    def _same_type(self, old: Any) -> Any:
        if isinstance(old, bool):
            return not old
        if isinstance(old, int):
            return self.rng.choice((*ODD_INTS, old + 1, old - 1, -old))
        if isinstance(old, float):
            return self.rng.choice((0.0, -old, old * 1e300))
        if isinstance(old, str):
            return self.text(old)
        if isinstance(old, list):
            return self._list(old)
        if isinstance(old, dict):
            return {**old, self.text(): self.text()} if self.rng.random() < 0.7 else {}
        return self.text()

    def _list(self, old: list[Any]) -> list[Any]:
        if old and self.rng.random() < 0.5:
            return old * self.rng.randint(2, 4)
        return old[: self.rng.randrange(len(old) + 1)]

    def _nested(self, depth: int) -> Any:
        value: Any = self.text()
        for _ in range(depth):
            value = [value] if self.rng.random() < 0.5 else {"k": value}
        return value

    def integer(self) -> int:
        return HUGE_INT if self.rng.random() < 0.02 else self.rng.choice(ODD_INTS)

    def text(self, old: str = "") -> str:
        pick = self.rng.randrange(8)
        if pick == 0:
            return self.rng.choice(ODD_TEXT)
        if pick == 1:
            return self.rng.choice("aZ.-_/") * self.rng.choice((63, 64, 254, 256, 70_000))
        if pick == 2:
            return "".join(chr(self._codepoint()) for _ in range(self.rng.randrange(1, 40)))
        if pick == 3 and old:
            return old + self.rng.choice(ODD_TEXT)
        if pick == 4 and old:
            cut = self.rng.randrange(len(old))
            return old[:cut] + self.rng.choice(ODD_TEXT) + old[cut + 1 :]
        if pick == 5 and old:
            return old.upper() if self.rng.random() < 0.5 else old[::-1]
        return "".join(self.rng.choice("abcXYZ019-._:/@ ") for _ in range(self.rng.randrange(12)))

    def _codepoint(self) -> int:
        point = self.rng.choice((self.rng.randrange(0x80), self.rng.randrange(0x110000)))
        return point if not 0xD800 <= point < 0xE000 else 0xFFFD

    # --- bytes ---------------------------------------------------------------------------

    def binary(self, data: bytes, *, rounds: int = 3, donors: Iterable[bytes] = ()) -> bytes:
        """`data` with 1..rounds byte-level changes; `donors` feed splices."""
        out = bytearray(data)
        spare = list(donors)
        for _ in range(self.rng.randint(1, rounds)):
            self._damage(out, spare)
        return bytes(out)

    def _damage(self, out: bytearray, donors: list[bytes]) -> None:
        pick = self.rng.randrange(9)
        at = self.rng.randrange(len(out)) if out else 0
        if not out or pick == 0:
            out[at:at] = self.rng.randbytes(self.rng.randint(1, 16))
        elif pick == 1:
            out[at] ^= 1 << self.rng.randrange(8)
        elif pick == 2:
            out[at] = self.rng.choice(INTERESTING_BYTES)
        elif pick == 3:
            del out[at:]
        elif pick == 4:
            del out[at : at + self.rng.randint(1, 32)]
        elif pick == 5:
            out[at:at] = out[at : at + self.rng.randint(1, 64)]
        elif pick == 6 and donors:
            donor = self.rng.choice(donors)
            start = self.rng.randrange(len(donor)) if donor else 0
            out[at:at] = donor[start : start + self.rng.randint(1, 200)]
        else:
            self._asn1_length(out)

    def _asn1_length(self, out: bytearray) -> None:
        """Rewrite the length byte after a DER tag: long forms, zero, or off by one."""
        tags = [i for i, b in enumerate(out[:-1]) if b in ASN1_TAGS]
        if not tags:
            return
        i = self.rng.choice(tags) + 1
        forms = ([0x80], [0x84, 0xFF, 0xFF, 0xFF, 0xFF], [0x00], [(out[i] + 1) & 0xFF], [0x81])
        out[i : i + 1] = bytes(self.rng.choice(forms))


def _paths(value: Any, prefix: Path = ()) -> list[Path]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _get(value: Any, path: Path) -> Any:
    for part in path:
        value = value[part]
    return value
