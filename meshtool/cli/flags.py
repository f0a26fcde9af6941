"""Click options derived from settings dataclasses, so that each default is written once.

A field declared with `meshtool.app.flagfields.flag` becomes one option: its name, type, default,
help and choices come from the field, its environment variable is `MESHTOOL_<FLAG>` (see
`options.option`), and `--help` shows both the variable and the default. `build` turns parsed
values back into the dataclass. The CLI states no default, help text or choice of its own.

Types follow the annotation: `bool` is an on/off flag; `int`, `float`, `str` and `Path` take a
value; `tuple[str, ...]` takes a comma-separated list; for `X | None`, an empty value is None
(so `--health-address ''` turns the endpoint off). A field whose type is itself a dataclass is
a group: its flags are named from templates in which "{}" is the field name with dashes (a
signer's `--enable-{}-signer`); without a template, a grouped flag is `--<group>-<field>`.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from meshtool.cli.options import F, option

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    # click.ParamType is generic only in newer click; pyproject allows click 8.1.
    _ListType = click.ParamType[tuple[str, ...], "str | tuple[str, ...]"]
else:
    _ListType = click.ParamType

_D = TypeVar("_D", bound="DataclassInstance")


class CommaList(_ListType):
    """`A, B,C` as `("A", "B", "C")`; blanks are dropped."""

    name = "list"

    def convert(
        self, value: str | tuple[str, ...], param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, ...]:
        return value if isinstance(value, tuple) else split(value)


def split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclasses.dataclass(frozen=True, slots=True)
class Flag:
    """One command-line flag: the dataclass field it sets, its type and its group."""

    field: dataclasses.Field[Any]
    hint: Any
    group: str = ""

    @property
    def name(self) -> str:
        own = self.field.name.replace("_", "-")
        template = self.field.metadata.get("flag") or (f"{{}}-{own}" if self.group else own)
        return "--" + template.replace("{}", self.group)

    @property
    def param(self) -> str:
        """The keyword click passes the value as."""
        return self.name.removeprefix("--").replace("-", "_")

    def option(self) -> Callable[[F], F]:
        kind: dict[str, Any] = {"is_flag": True} if self.hint is bool else {"type": self.type()}
        help_text = str(self.field.metadata["help"]).replace("{}", self.group)
        default = self.field.default
        return option(self.name, default=default, show_default=self.shown(), help=help_text, **kind)

    def type(self) -> Any:
        base = _without_none(self.hint)
        if "choices" in self.field.metadata:
            return click.Choice(self.field.metadata["choices"])
        if base is Path:
            return click.Path(dir_okay=False, path_type=Path)
        return CommaList() if typing.get_origin(base) is tuple else base

    def shown(self) -> bool | str:
        """What `--help` shows as the default: the value, or words for unset, off or empty."""
        default = self.field.default
        if default is None or default is False or default == ():
            return str(self.field.metadata.get("unset", "off"))
        return True

    def convert(self, value: Any) -> Any:
        """The field's value for a parsed value (or a plain string, as programs may pass)."""
        if value == "" and _without_none(self.hint) is not self.hint:
            return None
        if isinstance(value, str) and typing.get_origin(self.hint) is tuple:
            return split(value)
        return value


def walk(cls: type[DataclassInstance], group: str = "") -> Iterator[Flag]:
    """Every flag of `cls` in field order, its groups' flags included."""
    for field, hint in _fields(cls):
        if "help" in field.metadata:
            yield Flag(field, hint, group)
        elif _is_group(hint):
            yield from walk(hint, _group_name(field))


def options(cls: type[DataclassInstance], group: str = "") -> list[Callable[[F], F]]:
    return [flag.option() for flag in walk(cls, group)]


def build(cls: type[_D], params: Mapping[str, Any], group: str = "", **values: Any) -> _D:
    """`cls` from click's values; `values` set other fields, a missing flag keeps its default."""
    for field, hint in _fields(cls):
        if field.name in values:
            continue
        if "help" in field.metadata:
            flag = Flag(field, hint, group)
            if flag.param in params:
                values[field.name] = flag.convert(params[flag.param])
        elif _is_group(hint):
            values[field.name] = build(hint, params, _group_name(field))
    return cls(**values)


def _fields(cls: type[DataclassInstance]) -> list[tuple[dataclasses.Field[Any], Any]]:
    hints = typing.get_type_hints(cls)
    return [(field, hints[field.name]) for field in dataclasses.fields(cls)]


def _is_group(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _group_name(field: dataclasses.Field[Any]) -> str:
    return field.name.replace("_", "-")


def _without_none(hint: Any) -> Any:
    """`X` for `X | None`; any other annotation as it is."""
    args = typing.get_args(hint)
    if type(None) not in args:
        return hint
    (base,) = (arg for arg in args if arg is not type(None))
    return base
