"""Shared test configuration. pytest-trio runs every async test (``trio_mode = true``)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# CI machines are small (2 cores): keep property tests thorough but bounded, and never flaky on time.
settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

#: Registry names of the HTTP engines the shared HTTP suite (tests/test_http_*.py) runs against.
HTTP_ENGINES = ["http", "httpx"]


@pytest.fixture(params=HTTP_ENGINES)
def http_engine(request: pytest.FixtureRequest) -> str:
    """The ``transport_type`` of the HTTP engine under test."""
    return str(request.param)
