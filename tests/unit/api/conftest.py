from __future__ import annotations

import pytest

from meshtool.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
