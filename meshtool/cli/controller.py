"""`meshtool controller`: run the signer controller.

Flags match the reference Go meshtool's where they overlap. They are not written here: each is
derived (`meshtool.cli.flags`) from a field of `ControllerSettings` or `ShardingSettings`, which
holds its default and help. Each can also be given as the environment variable
`MESHTOOL_<FLAG>` (e.g. `MESHTOOL_SPIFFE_TRUST_DOMAIN`), which is how the Deployment passes the
downward-API sharding identity. Invalid settings exit at once with one line naming the flag.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import click

from meshtool.app import logs, main
from meshtool.app.settings import ControllerSettings, ShardingSettings
from meshtool.cli import flags
from meshtool.cli.options import F

SHARDING = "sharding"
"""The group of `ShardingSettings`' flags: `--sharding-pod-name` and the rest."""

OPTIONS: list[Callable[[F], F]] = [
    *flags.options(ControllerSettings),
    *flags.options(ShardingSettings, SHARDING),
]


def settings_from(params: Mapping[str, Any]) -> ControllerSettings:
    sharding = flags.build(ShardingSettings, params, SHARDING)
    problem = sharding.validate()
    if problem:
        raise click.UsageError(problem)
    return flags.build(ControllerSettings, params, sharding=sharding.identity())


def run_loop(coro: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed (a leaner event loop for many small requests)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def controller(**params: Any) -> None:
    """Run the Pod Certificate signer controller."""
    settings = settings_from(params)
    problem = settings.validate()
    if problem:
        raise click.UsageError(problem)
    logs.configure(settings.log_format, settings.log_level)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            run_loop(main.run(settings))
    except main.StartupError as exc:
        raise click.ClickException(str(exc)) from exc


for _decorate in reversed(OPTIONS):
    controller = _decorate(controller)

COMMANDS: list[click.Command] = [click.command("controller")(controller)]
