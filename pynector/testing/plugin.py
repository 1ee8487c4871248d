"""The pynector pytest plugin, registered through the ``pytest11`` entry point.

Fixtures (all function-scoped; none is autouse, and the plugin's only hooks register its marker and
option and note each test's outcome, so test suites that do not request them run exactly as without
the plugin):

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

- ``pynector_cassette``: a :class:`~pynector.testing.Cassette` for the test; wrap the transport with
  ``pynector_cassette.wrap(transport)``. The file is ``cassettes/<module>/<test name>.jsonl`` next to
  the test module, unless the ``pynector_cassette`` marker names one. Its keyword arguments are
  those of :class:`~pynector.testing.Cassette` (``record_mode``, ``match_on``, ``order``,
  ``allow_unused``, ``latency``, ``secret_headers``, ``scrub``). The record mode comes from the marker,
  else the ``--pynector-record-mode`` option, else the ``PYNECTOR_RECORD_MODE`` environment variable,
  else ``once``. When the test passed, teardown writes what was recorded and fails the test if a
  request matched no recorded exchange or (unless ``allow_unused=True``) a recorded exchange was
  never replayed; when it failed, nothing is written (a half-recorded cassette would be replayed).

They work alongside pytest-trio's ``autojump_clock``, ``mock_clock`` and ``nursery`` fixtures, which
this plugin never redefines. Importing this module imports nothing beyond pytest and pynector's core:
the OpenTelemetry SDK is imported by ``pynector_spans`` when a test asks for it.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    import trio

    from pynector import Pynector
    from pynector.testing import (
        CapturedLogs,
        Cassette,
        HTTPRequest,
        HTTPServer,
        MockTransport,
        ServerConnection,
    )

#: The environment variable choosing the record mode of every cassette (after the marker and option).
RECORD_MODE_ENV = "PYNECTOR_RECORD_MODE"
_FAILED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``--pynector-record-mode`` option."""
    group = parser.getgroup("pynector")
    group.addoption(
        "--pynector-record-mode",
        default=None,
        choices=("once", "new_episodes", "none", "all"),
        help=f"record mode of every pynector_cassette without one in its marker (default: ${RECORD_MODE_ENV}"
        ", else once)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``pynector_cassette`` marker; without pytest-trio, provide a ``nursery``
    stand-in so ``pynector_http_server`` can say what is missing instead of pytest's bare "fixture
    'nursery' not found"."""
    if _pytest_trio_missing(config):
        config.pluginmanager.register(_NurseryStandIn(), "pynector-nursery-stand-in")
    config.addinivalue_line(
        "markers",
        "pynector_cassette(path=None, **options): the cassette file and Cassette options of the "
        "pynector_cassette fixture (record_mode, match_on, order, allow_unused, latency...)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Note whether the test body failed (``pynector_cassette`` writes nothing then)."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


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


def _default_cassette_path(request: pytest.FixtureRequest) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    return request.path.parent / "cassettes" / request.path.stem / f"{name}.jsonl"


@pytest.fixture
def pynector_cassette(request: pytest.FixtureRequest) -> Iterator[Cassette]:
    """A Cassette for the test (file, mode and options from the pynector_cassette marker)."""
    from pynector.testing import Cassette, CassetteError

    marker = request.node.get_closest_marker("pynector_cassette")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    path = options.pop("path", None)
    if marker is not None and marker.args:
        path = marker.args[0]
    if path is None:
        path = _default_cassette_path(request)
    elif not Path(path).is_absolute():
        path = request.path.parent / path
    mode = (
        options.pop("record_mode", None)
        or request.config.getoption("pynector_record_mode")
        or os.environ.get(RECORD_MODE_ENV)
        or "once"
    )
    try:
        cassette = Cassette(path, record_mode=mode, **options)
    except CassetteError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield cassette
    if request.node.stash.get(_FAILED, False):
        return
    try:
        cassette.close()
    except CassetteError as exc:
        pytest.fail(f"pynector_cassette: {exc}", pytrace=False)


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


class _NurseryStandIn:
    @pytest.fixture
    def nursery(self) -> None:
        """Stand-in for pytest-trio's fixture (pytest-trio is not installed)."""
        pytest.fail(_NEEDS_PYTEST_TRIO.format(name="nursery"), pytrace=False)
