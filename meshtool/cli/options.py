"""Options shared by the subcommands: every flag can also come from `MESHTOOL_<FLAG>`.

Click's automatic prefix would name them `MESHTOOL_<COMMAND>_<FLAG>`; deployments set the plain
flag names (the Deployment's sharding env, for example), so we name each variable ourselves.
`KUBECONFIG` and `CONTEXT` are the cluster choice of every command that talks to one, read from
the same `MESHTOOL_KUBECONFIG` the controller documents.
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


KUBECONFIG = option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    help="Kubeconfig file.",
    show_default="$KUBECONFIG, ~/.kube/config",
)
CONTEXT = option("--context", help="Kubeconfig context.", show_default="current-context")
