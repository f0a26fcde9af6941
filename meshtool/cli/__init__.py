"""The `meshtool` command line: a thin root that hands each subcommand to its own module.

Subcommands parse flags (each also readable from a `MESHTOOL_<FLAG>` environment variable) into
settings and call one function elsewhere. Known problems (bad input, unreachable cluster) end
as one line on stderr and a non-zero exit; a traceback is printed only with `--debug`.
"""

from __future__ import annotations

import sys

import click

from meshtool.cli import ca, capool, controller, demo, doctor, inspect, localdemo


class _Root(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(f"meshtool: error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Root, context_settings={"auto_envvar_prefix": "MESHTOOL"})
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.version_option(package_name="meshtool")
def root(debug: bool) -> None:
    """Kubernetes Pod Certificate signers and their tooling."""


for _module in (controller, capool, ca, inspect, doctor, demo, localdemo):
    for _command in _module.COMMANDS:
        root.add_command(_command)


def main() -> None:
    root(prog_name="meshtool")
