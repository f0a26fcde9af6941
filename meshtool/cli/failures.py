"""How a `meshtool` command ends when something goes wrong: one line, one prefix, one exit code.

Every failure, whether click's own usage errors or ours, is written to stderr as a single line
starting with `PREFIX`, and the exit status says what kind it was: 2 for bad usage, 1 for
anything else, 130 for an interrupt. Known problems carry messages that name the object, file
or server (`meshtool.kube.errors`, `OSError` with its file, our `ValueError`s); an unexpected
exception is named as such and points at `--debug`, the only way to get a traceback.

A reader that goes away (`meshtool inspect x | head -1`) is not a failure: a broken pipe on
stdout ends the command quietly with the status a SIGPIPE'd tool has (141), and stdout is
pointed at /dev/null so the interpreter's final flush does not complain either.
"""

from __future__ import annotations

import contextlib
import os
import sys

import click

from meshtool.kube import errors

PREFIX = "meshtool: error: "
_HELP: tuple[type[Exception], ...] = tuple(
    getattr(click.exceptions, name)
    for name in ("NoArgsIsHelpError",)
    if hasattr(click.exceptions, name)
)
"""A group run without a command (click 8.2 on): the help, not an error line."""
BROKEN_PIPE = 128 + 13
"""The status of a process killed by SIGPIPE, which is what a shell sees for `cat | head`."""
INTERRUPTED = 130


def message(exc: BaseException) -> str:
    """The one line describing an exception that escaped a command."""
    if isinstance(exc, click.UsageError):
        return _usage(exc)
    if isinstance(exc, click.ClickException):
        return exc.format_message()
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    if isinstance(exc, errors.KubeError | ValueError) and str(exc):
        return str(exc)
    detail = f": {exc}" if str(exc) else ""
    return f"unexpected {type(exc).__name__}{detail} (run with --debug for the traceback)"


def _usage(exc: click.UsageError) -> str:
    text = exc.format_message()
    if exc.ctx is None:
        return text
    return f"{text} (see '{exc.ctx.command_path} --help')"


def report(exc: BaseException) -> int:
    """Print `exc` as one line with the prefix; the exit status it stands for."""
    if is_broken_pipe(exc):
        return quiet_broken_pipe()
    if isinstance(exc, _HELP):
        click.echo(exc.format_message(), err=True)  # type: ignore[attr-defined]
        return 2
    if isinstance(exc, click.Abort | KeyboardInterrupt):
        click.echo(f"{PREFIX}interrupted", err=True)
        return INTERRUPTED
    click.echo(PREFIX + " ".join(message(exc).split()), err=True)
    return exc.exit_code if isinstance(exc, click.ClickException) else 1


def is_broken_pipe(exc: BaseException) -> bool:
    return isinstance(exc, BrokenPipeError)


def quiet_broken_pipe() -> int:
    """Stop writing to a closed stdout without another error at exit."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return BROKEN_PIPE


def flush_stdout() -> int | None:
    """Flush what the command printed; the exit status if the reader has gone."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return quiet_broken_pipe()
    return None
