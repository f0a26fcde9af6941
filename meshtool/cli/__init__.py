"""The `meshtool` command line: a thin root that hands each subcommand to its own module.

Subcommands parse flags (each also readable from a `MESHTOOL_<FLAG>` environment variable) into
settings and call one function elsewhere. However a command fails, click's usage errors
included, it ends as one line on stderr with the prefix `meshtool: error: ` and a non-zero
exit (`meshtool.cli.failures`); a traceback is printed only with `--debug`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from meshtool.cli import ca, capool, controller, demo, doctor, failures, inspect, localdemo


class _Root(click.Group):
    _debug = False
    """`--debug` was given: let unexpected exceptions through with their traceback."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        self._debug = False
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:
            if self._debug and not failures.is_broken_pipe(exc):
                raise
            code = failures.report(exc)
        else:
            code = result if isinstance(result, int) else 0
        sys.exit(failures.flush_stdout() or code)

    def invoke(self, ctx: click.Context) -> object:
        self._debug = bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # before click's own handler, which exits 1
            sys.exit(failures.quiet_broken_pipe())


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
