"""`python -m meshtool` runs the CLI."""

from meshtool.cli import main

main()
