"""The pynector pytest plugin, registered through the ``pytest11`` entry point.

Fixtures (all function-scoped; none is autouse, and the plugin has no hooks, so test suites that do
not request them run exactly as without the plugin):

- ``pynector_mock``: a fresh :class:`~pynector.testing.MockTransport`. At teardown it asserts that no
  request went unmatched (set ``pynector_mock.check_unexpected_on_teardown = False`` to opt out).
- ``pynector_client``: a :class:`~pynector.Pynector` over ``pynector_mock``, opened for the test (an
  async fixture: use it from trio tests).
- ``pynector_logs``: pynector's loguru events enabled for the test, records collected in a list
  (:class:`~pynector.testing.CapturedLogs`); the sink is removed and pynector's events disabled
  afterwards (the library default, even if the suite had enabled them).
- ``pynector_spans``: an OpenTelemetry SDK in-memory span exporter wired to the global tracer provider;
  the test is skipped when the SDK is not installed. OpenTelemetry sets the global provider once per
  process: the first use installs an SDK provider that stays for the rest of the session.
- ``pynector_no_retry_wait``: retries wait zero seconds during the test; yields the list of waits
  that were skipped.
- ``pynector_http_server``: a loopback HTTP server (:func:`~pynector.testing.serve_http`) started in
  pytest-trio's ``nursery`` for the test; script it by assigning ``pynector_http_server.handler``
  (until then every request fails with a 500 saying so). At teardown the test fails if a handler
  raised, unless ``check_handler_errors_on_teardown`` is set to ``False`` (an async fixture: use it
  from trio tests).

They work alongside pytest-trio's ``autojump_clock``, ``mock_clock`` and ``nursery`` fixtures, which
this plugin never redefines. Importing this module imports nothing beyond pytest and pynector's core:
the OpenTelemetry SDK is imported by ``pynector_spans`` when a test asks for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    import trio

    from pynector import Pynector
    from pynector.testing import CapturedLogs, HTTPRequest, HTTPServer, MockTransport, ServerConnection


@pytest.fixture
def pynector_mock() -> Iterator[MockTransport]:
    """A fresh MockTransport; asserts no unexpected requests at teardown."""
    from pynector.testing import MockTransport

    mock = MockTransport()
    yield mock
    if mock.check_unexpected_on_teardown:
        mock.assert_no_unexpected_requests()


@pytest.fixture
async def pynector_client(pynector_mock: MockTransport) -> AsyncIterator[Pynector]:
    """A Pynector client over ``pynector_mock``, open for the duration of the test."""
    from pynector import Pynector

    async with Pynector(transport=pynector_mock) as client:
        yield client


@pytest.fixture
def pynector_logs() -> Iterator[CapturedLogs]:
    """pynector's loguru records emitted during the test, in order."""
    from pynector.testing import capture_logs

    with capture_logs() as records:
        yield records


@pytest.fixture
def pynector_spans() -> Iterator[Any]:
    """An OpenTelemetry SDK InMemorySpanExporter receiving the spans finished during the test."""
    try:
        import opentelemetry.sdk.trace  # noqa: F401 - only checks that the optional SDK is installed
    except ImportError as exc:
        pytest.skip(f"pynector_spans needs the OpenTelemetry SDK (pip install 'pynector-trio[otel]'): {exc}")
    from pynector.testing import capture_spans

    with capture_spans() as exporter:
        yield exporter


@pytest.fixture
def pynector_no_retry_wait() -> Iterator[list[float]]:
    """Retry waits last zero seconds during the test; yields the waits that were skipped."""
    from pynector.testing import no_retry_wait

    with no_retry_wait() as waits:
        yield waits


def _no_handler(request: HTTPRequest, conn: ServerConnection) -> None:
    raise LookupError(
        f"pynector_http_server received {request.method} {request.target} but has no handler: "
        "assign pynector_http_server.handler = handler(request, conn) -> HTTPResponse"
    )


@pytest.fixture
async def pynector_http_server(nursery: trio.Nursery) -> AsyncIterator[HTTPServer]:
    """A loopback HTTP server for the test; script it with ``pynector_http_server.handler = ...``."""
    from pynector.testing import serve_http

    server: HTTPServer = await nursery.start(serve_http, _no_handler)
    yield server
    if server.check_handler_errors_on_teardown and server.handler_errors:
        errors = "\n".join(f"  {type(e).__name__}: {e}" for e in server.handler_errors)
        pytest.fail(
            f"pynector_http_server: the handler raised {len(server.handler_errors)} time(s) (each "
            f"request got a 500):\n{errors}\nset check_handler_errors_on_teardown = False if intended",
            pytrace=False,
        )


#: What the async fixtures need, and how to get it.
_NEEDS_PYTEST_TRIO = (
    "{name} is an async fixture and needs pytest-trio (with trio_mode = true or @pytest.mark.trio): "
    "pip install 'pynector-trio[pytest]'"
)
_ASYNC_FIXTURES = frozenset({"pynector_client", "pynector_http_server"})


def _pytest_trio_missing(config: pytest.Config) -> bool:
    return not config.pluginmanager.hasplugin("trio")


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> None:
    """Without pytest-trio, an async fixture of this plugin fails saying what to install."""
    if fixturedef.argname in _ASYNC_FIXTURES and _pytest_trio_missing(request.config):
        pytest.fail(_NEEDS_PYTEST_TRIO.format(name=fixturedef.argname), pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    """Without pytest-trio, provide a ``nursery`` stand-in so ``pynector_http_server`` can say what
    is missing instead of pytest's bare "fixture 'nursery' not found"."""
    if _pytest_trio_missing(config):
        config.pluginmanager.register(_NurseryStandIn(), "pynector-nursery-stand-in")


class _NurseryStandIn:
    @pytest.fixture
    def nursery(self) -> None:
        """Stand-in for pytest-trio's fixture (pytest-trio is not installed)."""
        pytest.fail(_NEEDS_PYTEST_TRIO.format(name="nursery"), pytrace=False)
