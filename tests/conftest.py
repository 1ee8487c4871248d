"""Shared test configuration. pytest-trio runs every async test (``trio_mode = true``)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest
import trio
import trustme
from helpers.cli import Target
from helpers.pytester import INI
from helpers.telemetry import in_memory_tracing, reset_global_telemetry
from hypothesis import HealthCheck, settings
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, serve_http

# pytester runs small user test suites in-process (the tests of the pytest plugin and of examples/app).
pytest_plugins = ["pytester"]

# CI machines are small (2 cores): keep property tests thorough but bounded, and never flaky on time.
settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

#: Registry names of the HTTP engines the shared HTTP suite (tests/test_http_*.py) runs against.
#: The HTTP engines every HTTP test runs on: the native one, httpx, and httpx2 (httpx's maintained
#: continuation) when it is installed (the SDK extras install it).
HTTP_ENGINES = ["http", "httpx", *(["httpx2"] if importlib.util.find_spec("httpx2") else [])]


@pytest.fixture(params=HTTP_ENGINES)
def http_engine(request: pytest.FixtureRequest) -> str:
    """The ``transport_type`` of the HTTP engine under test."""
    return str(request.param)


@pytest.fixture
def clean_telemetry_globals() -> Iterator[None]:
    """OpenTelemetry's global provider and propagator reset before and after the test."""
    reset_global_telemetry()
    yield
    reset_global_telemetry()


@pytest.fixture
def tracing() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """An SDK tracer provider with an in-memory exporter: ``(provider, exporter)``."""
    with in_memory_tracing() as pair:
        yield pair


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throwaway certificate authority (see ``helpers.tls`` for server and client contexts)."""
    return trustme.CA()


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory configured like a user's trio project."""
    pytester.makeini(INI)
    return pytester


@pytest.fixture
async def target(nursery: trio.Nursery) -> Target:
    """A loopback HTTP server with the routes of :class:`cli_helpers.Target` (for the CLI tests)."""
    holder: list[Target] = []

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse | None:
        return await holder[0].handle(request, conn)

    server = await nursery.start(serve_http, handler)
    holder.append(Target(server))
    return holder[0]
