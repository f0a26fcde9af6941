"""Dataclass fields that are also command-line flags: the one declaration of a controller flag.

A settings field declared with `flag(default, help)` carries its help, its flag name when that
is not the field name with dashes, its choices and the words for an unset default in the
field's metadata; `meshtool.cli.flags` reads that metadata to build the click option, and
`make flag-docs` the README table. The default is the field's default, written once.
"""

from __future__ import annotations

from dataclasses import field
from typing import TypeVar

_T = TypeVar("_T")


def flag(
    default: _T, help: str, *, name: str = "", choices: tuple[str, ...] = (), unset: str = ""
) -> _T:
    """A dataclass field that is also a command-line flag.

    `name` is the flag when it is not the field name with dashes; in a nested group, "{}" in
    `name` and `help` stands for the group (the signer). `unset` says in words what a default
    of None, off or empty means, for `--help`.
    """
    metadata = {"help": help, "flag": name, "choices": choices, "unset": unset}
    return field(default=default, metadata={k: v for k, v in metadata.items() if v})
