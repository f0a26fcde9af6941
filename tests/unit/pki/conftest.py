from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from meshtool.clock import FakeClock

from . import certs


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(certs.NOW)


@pytest.fixture(scope="session")
def rsa_keys() -> dict[int, rsa.RSAPrivateKey]:
    """RSA keys are slow to generate: one per size for the whole session."""
    return {size: rsa.generate_private_key(65537, size) for size in (2048, 3072, 4096)}
