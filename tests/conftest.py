"""Shared test configuration. Fixtures for integration tests come from the `meshtool` pytest
plugin, meshtool.testing.pytest_plugin, loaded here explicitly: the package does not register it
as a pytest11 entry point, so installing meshtool never adds fixtures to anyone else's pytest.

Also: close the stray event loop the looptime plugin makes for a sync test. looptime's
`pytest_pyfunc_call` calls `event_loop_policy.get_event_loop()` for every test; for a sync test
with no loop set that *creates* a loop nobody closes, and its ResourceWarning later fails the
session (warnings are errors). Only sync tests are touched.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator

import pytest

pytest_plugins = ["meshtool.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def _close_stray_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if inspect.iscoroutinefunction(request.function):
        return
    policy = asyncio.get_event_loop_policy()
    try:
        loop = policy.get_event_loop()
    except RuntimeError:  # no loop set: nothing stray
        return
    if not loop.is_running():
        loop.close()
        policy.set_event_loop(None)
