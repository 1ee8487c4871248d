"""The pytest plugin, tested as users run it: pytester runs small test files that use its fixtures."""

from __future__ import annotations

import textwrap

import pytest
from helpers.imports import modules_loaded_by
from helpers.pytester import run


def test_fixtures_are_listed_with_their_docs(suite: pytest.Pytester) -> None:
    """The plugin is loaded through its entry point and its fixtures are documented."""
    result = suite.runpytest("--fixtures", "-p", "no:cacheprovider")
    # pytest lists fixtures sorted by "path:line" text, so their order is not checked.
    result.stdout.fnmatch_lines(
        ["*pynector_mock*", "*A fresh MockTransport; asserts no unexpected requests at teardown."]
    )
    result.stdout.fnmatch_lines(
        ["*pynector_cassette*", "*A Cassette for the test (file, mode and options from the *marker)."]
    )
    for name in ("client", "logs", "spans", "no_retry_wait", "http_server"):
        result.stdout.fnmatch_lines([f"*pynector_{name}*"])


def test_mock_client_with_autojump_clock_and_nursery(suite: pytest.Pytester) -> None:
    """pynector_mock and pynector_client work with pytest-trio's autojump_clock and nursery."""
    result = run(
        suite,
        """
        import trio

        async def test_slow_response(pynector_mock, pynector_client, autojump_clock):
            pynector_mock.route("GET", "/u").respond({"id": 1}, delay=5)
            start = trio.current_time()
            assert {"id": 1} == await pynector_client.request({"method": "GET", "url": "/u"})
            assert 5 == trio.current_time() - start
            pynector_mock.assert_called(times=1)

        async def test_background_task(pynector_mock, pynector_client, nursery):
            pynector_mock.route().respond("pong")
            done = trio.Event()
            got = []

            async def ping():
                got.append(await pynector_client.request("ping"))
                done.set()

            nursery.start_soon(ping)
            await done.wait()
            assert ["pong"] == got

        async def test_client_is_open_and_mock_connected(pynector_mock, pynector_client):
            assert not pynector_client.closed
            assert 1 == pynector_mock.connects
        """,
    )
    result.assert_outcomes(passed=3)


def test_unexpected_request_fails_the_test_with_a_helpful_message(suite: pytest.Pytester) -> None:
    """An unrouted request fails the test naming the request and the routes that exist."""
    result = run(
        suite,
        """
        async def test_wrong_path(pynector_mock, pynector_client):
            pynector_mock.route("GET", "/users/1").respond({"id": 1})
            await pynector_client.request({"method": "GET", "url": "/users/2"})
        """,
    )
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*UnexpectedRequestError: unexpected request #1 to the mock transport: GET /users/2; no route *",
            "*GET /users/1",
        ]
    )


def test_swallowed_unexpected_request_is_caught_at_teardown(suite: pytest.Pytester) -> None:
    """Application code that swallows the error still gets caught by the fixture's teardown check."""
    result = run(
        suite,
        """
        import pynector

        async def fetch(client):
            try:
                return await client.request({"method": "POST", "url": "/orders"})
            except pynector.PynectorError:
                return None  # the application's fallback hides the mistake

        async def test_swallowed(pynector_mock, pynector_client):
            pynector_mock.route("GET", "/orders").respond([])
            assert None is await fetch(pynector_client)
        """,
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_swallowed*",
            "*1 unexpected request(s) (no route matched): #1 POST /orders",
            "*#1 [[]0.000-0.000s] POST /orders -> no route matched -> raised UnexpectedRequestError*",
        ]
    )


def test_teardown_check_can_be_turned_off(suite: pytest.Pytester) -> None:
    """A test that provokes an unexpected request on purpose can opt out of the teardown check."""
    result = run(
        suite,
        """
        import pytest
        from pynector.testing import UnexpectedRequestError

        async def test_on_purpose(pynector_mock, pynector_client):
            pynector_mock.check_unexpected_on_teardown = False
            with pytest.raises(UnexpectedRequestError):
                await pynector_client.request("anything")
        """,
    )
    result.assert_outcomes(passed=1)


def test_unused_route_and_call_count_failures_list_what_happened(suite: pytest.Pytester) -> None:
    """assert_all_routes_used and assert_called fail with the unused routes and the request log."""
    result = run(
        suite,
        """
        async def test_unused_route(pynector_mock, pynector_client):
            pynector_mock.route("GET", "/a").respond(1)
            pynector_mock.route("GET", "/b").respond(2)
            await pynector_client.request({"method": "GET", "url": "/a"})
            pynector_mock.assert_all_routes_used()

        async def test_call_count(pynector_mock, pynector_client):
            route = pynector_mock.route("GET", "/a").respond(1)
            await pynector_client.request({"method": "GET", "url": "/a"})
            route.assert_called(times=2)
        """,
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: 1 route(s) never used: GET /b",
            "*requests received by the mock transport:",
            "*#1 *GET /a -> route GET /a -> returned 1",
            "*AssertionError: expected the route 'GET /a' to be called 2 times, got once",
        ]
    )


def test_no_retry_wait_makes_retries_instant(suite: pytest.Pytester) -> None:
    """pynector_no_retry_wait: retries happen without the clock moving, waits are recorded."""
    result = run(
        suite,
        """
        import trio

        async def test_retries(pynector_mock, pynector_client, pynector_no_retry_wait, autojump_clock):
            pynector_mock.route().fail_connect(times=3).respond("ok")
            start = trio.current_time()
            assert "ok" == await pynector_client.request_with_retry("x", max_retries=3)
            assert start == trio.current_time()
            assert 3 == len(pynector_no_retry_wait)
            pynector_mock.assert_called(times=4)

        async def test_waits_again_without_the_fixture(pynector_mock, pynector_client, autojump_clock):
            pynector_mock.route().fail_connect().respond("ok")
            start = trio.current_time()
            assert "ok" == await pynector_client.request_with_retry("x", max_retries=1, retry_delay=4)
            assert trio.current_time() - start >= 2  # jittered wait in [2, 4]
        """,
    )
    result.assert_outcomes(passed=2)


def test_logs_fixture_captures_pynector_records_only_during_the_test(suite: pytest.Pytester) -> None:
    """pynector_logs enables pynector's loguru events for the test and disables them afterwards."""
    result = run(
        suite,
        """
        from loguru import logger

        def emit_as(module, message):
            # loguru names records after the calling module: emit from a pynector module.
            code = compile("logger.warning(message)", "<emit>", "exec")
            exec(code, {"__name__": module, "logger": logger, "message": message})

        def test_captured(pynector_logs):
            emit_as("pynector.transport.fake", "retrying GET /x")
            emit_as("someone_else", "not ours")
            assert ["retrying GET /x"] == pynector_logs.messages
            assert "WARNING" == pynector_logs[0]["level"].name
            assert 1 == len(pynector_logs.at_level("WARNING"))

        def test_disabled_again_afterwards():
            seen = []
            sink = logger.add(seen.append, level=0)
            try:
                emit_as("pynector.transport.fake", "should be disabled")
            finally:
                logger.remove(sink)
            assert [] == seen
        """,
    )
    result.assert_outcomes(passed=2)


def test_spans_fixture_collects_spans_per_test(suite: pytest.Pytester) -> None:
    """pynector_spans (and capture_spans) yield an in-memory exporter, empty at the start of each test.

    Run in a subprocess: the first capture installs the process-wide tracer provider.
    """
    suite.makepyfile(
        test_user=textwrap.dedent(
            """
        from opentelemetry import trace
        from pynector.testing import capture_spans

        def make_span(name):
            with trace.get_tracer("pynector").start_as_current_span(name):
                pass

        def test_first(pynector_spans):
            make_span("first")
            assert ["first"] == [s.name for s in pynector_spans.get_finished_spans()]

        def test_second(pynector_spans):
            make_span("second")
            assert ["second"] == [s.name for s in pynector_spans.get_finished_spans()]

        def test_context_manager():
            with capture_spans() as exporter:
                make_span("third")
                assert ["third"] == [s.name for s in exporter.get_finished_spans()]
            assert () == tuple(exporter.get_finished_spans())
        """
        )
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_spans_fixture_skips_with_a_reason_without_the_sdk(suite: pytest.Pytester) -> None:
    """Without opentelemetry-sdk, tests using pynector_spans are skipped and say why."""
    suite.makeconftest(
        """
        import sys
        sys.modules["opentelemetry.sdk"] = None  # as if the SDK were not installed
        """
    )
    suite.makepyfile(test_user="def test_spans(pynector_spans):\n    assert False\n")
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*pynector_spans needs the OpenTelemetry SDK (pip install 'pynector-trio[[]otel]')*"]
    )


SUITE_WITHOUT_FIXTURES = """
import sys

import trio
from loguru import logger

from pynector._retry import RETRY_WAIT_HOOK


async def test_async_test_runs_under_trio():
    await trio.sleep(0)
    assert RETRY_WAIT_HOOK.get() is None


def test_no_optional_imports_and_logging_untouched():
    assert "opentelemetry.sdk" not in sys.modules
    seen = []
    sink = logger.add(seen.append, level=0)
    try:
        exec(compile("logger.error('x')", "<emit>", "exec"), {"__name__": "pynector.x", "logger": logger})
    finally:
        logger.remove(sink)
    assert [] == seen


def test_failure_is_reported_as_usual():
    assert 1 == 2
"""


def test_suites_not_using_the_fixtures_behave_the_same(suite: pytest.Pytester) -> None:
    """The same suite gives the same outcomes with the plugin loaded and with it disabled."""
    suite.makepyfile(test_plain=SUITE_WITHOUT_FIXTURES)
    with_plugin = suite.runpytest_subprocess("-p", "no:cacheprovider")
    without_plugin = suite.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:pynector")
    with_plugin.assert_outcomes(passed=2, failed=1)
    without_plugin.assert_outcomes(passed=2, failed=1)
    assert "pynector-" in with_plugin.stdout.str()  # listed among the loaded plugins
    assert "pynector-" not in without_plugin.stdout.str()


def test_importing_the_plugin_imports_no_optional_package() -> None:
    """Loading the plugin does not import the OpenTelemetry SDK, hypothesis or pytest-trio."""
    loaded = modules_loaded_by(
        "import pynector.testing.plugin", "opentelemetry.sdk", "hypothesis", "pytest_trio"
    )
    assert [] == loaded


def test_async_fixtures_without_pytest_trio_say_what_to_install(suite: pytest.Pytester) -> None:
    """Without pytest-trio, the async fixtures fail naming the pytest extra to install."""
    suite.makeini("[pytest]\nfilterwarnings = error\n")
    suite.makepyfile(
        test_user=(
            "def test_client(pynector_client):\n    pass\n\n"
            "def test_server(pynector_http_server):\n    pass\n"
        )
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:trio")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*needs pytest-trio*pip install 'pynector-trio[[]pytest]'*"])
