"""The README's controller flag table is the one generated from the code, and covers every flag."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from meshtool.cli import flagdoc

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_table() -> str:
    text = README.read_text()
    start, end = text.index(flagdoc.BEGIN) + len(flagdoc.BEGIN), text.index(flagdoc.END)
    return text[start:end].strip()


def test_readme_flag_table_is_the_generated_one() -> None:
    assert readme_table() == flagdoc.table(), "run 'make flag-docs' and commit README.md"


def test_every_controller_option_has_a_row_with_its_variable_and_default() -> None:
    table = readme_table()
    options = [p for p in flagdoc.command().params if isinstance(p, click.Option)]
    assert len(options) >= 30
    for option in options:
        row = f"| `{option.opts[0]}` | `{option.envvar}` | "
        assert row in table, option.opts[0]
    assert "| `--workers` | `MESHTOOL_WORKERS` | `16` |" in table
    assert "| `--log-level` | `MESHTOOL_LOG_LEVEL` | `info` |" in table
    assert "| `meshtool --debug controller` | `MESHTOOL_DEBUG` | off |" in table


def test_rows_show_flags_choices_unset_defaults_and_escape_markup() -> None:
    options = [
        click.Option(["--mode"], type=click.Choice(["a", "b"]), default="a", help="Mode <x>|y."),
        click.Option(["--on"], is_flag=True, envvar="MESHTOOL_ON", help="Switch."),
        click.Option(["--pool"], show_default="none", envvar="MESHTOOL_POOL", help="Pool."),
    ]
    options[0].envvar = "MESHTOOL_MODE"
    debug = click.Option(["--debug"], is_flag=True, help="Tracebacks.")
    rows = list(flagdoc.rows(click.Command("c", params=options), debug))
    assert rows == [
        "| `--mode` | `MESHTOOL_MODE` | `a` | Mode &lt;x&gt;\\|y. One of: `a`, `b`. |",
        "| `--on` | `MESHTOOL_ON` | off | Switch. |",
        "| `--pool` | `MESHTOOL_POOL` | none | Pool. |",
        "| `meshtool --debug controller` | `MESHTOOL_DEBUG` | off | Tracebacks. |",
    ]


def test_check_fails_on_a_stale_table_and_the_rewrite_fixes_it(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    stale = f"# x\n{flagdoc.BEGIN}\n| `--old` | | | |\n{flagdoc.END}\ntail\n"
    readme.write_text(stale)
    assert flagdoc.main(["--check", str(readme)]) == 1
    assert readme.read_text() == stale
    assert flagdoc.main([str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# x\n") and text.endswith(f"{flagdoc.END}\ntail\n")
    assert "`--old`" not in text and "| `--workers` |" in text
    assert flagdoc.main(["--check", str(readme)]) == 0


def test_missing_markers_are_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no table here\n")
    assert flagdoc.main(["--check", str(readme)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"flag-docs: {readme}: no ") and err.count("\n") == 1
