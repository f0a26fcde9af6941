"""`meshtool demo`: the local end-to-end demo (what `make demo` runs)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from meshtool.localdemo import run


def repo_root() -> Path:
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / "example-manifests").is_dir() and (folder / "controller-manifests").is_dir():
            return folder
    raise click.ClickException(
        "run `meshtool demo` from the meshtool repository (no manifests here)"
    )


@click.command("demo")
@click.option("--keep-running", is_flag=True, help="Leave the local cluster up until Ctrl-C.")
@click.option("--k8s-version", default="1.37", show_default=True)
@click.option(
    "--scenario",
    "chosen",
    multiple=True,
    type=click.Choice(sorted(run.SCENARIOS)),
    help="Run only these scenarios (repeatable) [default: all].",
)
def demo(keep_running: bool, k8s_version: str, chosen: tuple[str, ...]) -> None:
    """Run the local end-to-end demo: control plane, controller, examples, refresh, and two
    federated clusters."""
    session = run.Demo(
        repo_root(),
        keep_running=keep_running,
        version=k8s_version,
        selected=frozenset(chosen) or run.SCENARIOS,
    )
    try:
        passed = asyncio.run(session.run())
    except KeyboardInterrupt:
        click.echo("\ninterrupted; everything started by the demo was stopped", err=True)
        sys.exit(130)
    click.echo("\ndemo: all checks passed" if passed else "\ndemo: some checks FAILED")
    sys.exit(0 if passed else 1)


COMMANDS: list[click.Command] = [demo]
