"""Options shared by the subcommands: every flag can also come from `MESHTOOL_<FLAG>`.

Click's automatic prefix would name them `MESHTOOL_<COMMAND>_<FLAG>`; deployments set the plain
flag names (the Deployment's sharding env, for example), so we name each variable ourselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

F = Callable[..., Any]


def option(flag: str, **kwargs: Any) -> Callable[[F], F]:
    """A click option also read from `MESHTOOL_<FLAG>` (e.g. `--spiffe-ca-pool`)."""
    env = "MESHTOOL_" + flag.lstrip("-").replace("-", "_").upper()
    return click.option(flag, envvar=env, show_envvar=True, **kwargs)
