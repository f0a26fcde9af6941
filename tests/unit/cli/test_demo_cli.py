"""`meshtool demo --scenario`: which scenarios run (all by default, as `make demo` runs them)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from meshtool.cli import root
from meshtool.localdemo import run


class FakeDemo:
    made: ClassVar[list[dict[str, object]]] = []

    def __init__(self, repo: Path, **kwargs: object) -> None:
        FakeDemo.made.append(kwargs)

    async def run(self) -> bool:
        return True


@pytest.fixture
def demos(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    # As in test_ca_cli: `asyncio.run` orphans the loop looptime's hook leaves set.
    with contextlib.suppress(RuntimeError):
        asyncio.get_event_loop_policy().get_event_loop().close()
    FakeDemo.made = []
    monkeypatch.setattr(run, "Demo", FakeDemo)
    return FakeDemo.made


def test_every_scenario_runs_by_default(demos):
    result = CliRunner().invoke(root, ["demo"])
    assert result.exit_code == 0, result.output
    assert demos[0]["selected"] == frozenset({"examples", "spiffe-federation"})
    assert "demo: all checks passed" in result.output


def test_scenarios_can_be_picked(demos):
    result = CliRunner().invoke(root, ["demo", "--scenario", "spiffe-federation"])
    assert result.exit_code == 0, result.output
    assert demos[0]["selected"] == frozenset({"spiffe-federation"})


def test_an_unknown_scenario_is_refused(demos):
    result = CliRunner().invoke(root, ["demo", "--scenario", "nope"])
    assert result.exit_code == 2 and "nope" in result.output and demos == []
