"""Shared maskers: the full default detector set under each engine (built once)."""

from __future__ import annotations

import pytest

from hgate.mask.detectors import build_default_detectors
from hgate.mask.engine import hyperscan_available
from hgate.mask.masker import Masker

KEY = b"synthetic-test-key-0123456789abc"
ENGINES = ["re", *(["hyperscan"] if hyperscan_available() else [])]
_CACHE: dict[str, Masker] = {}


@pytest.fixture(params=ENGINES, scope="session")
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def masker(engine: str) -> Masker:
    """A default masker for `engine`, with stream state reset for each test."""
    if engine not in _CACHE:
        _CACHE[engine] = Masker(key=KEY, detectors=build_default_detectors(), engine=engine)
    masker = _CACHE[engine]
    masker.reset_state()
    return masker
