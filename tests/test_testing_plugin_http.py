"""The plugin's HTTP side, tested as users run it (pytester): mocked HTTP responses and the server fixture."""

from __future__ import annotations

import pytest
from helpers.pytester import run


def test_server_fixture_is_listed_with_its_doc(suite: pytest.Pytester) -> None:
    """pynector_http_server is registered by the plugin and documented."""
    result = suite.runpytest("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        ["*pynector_http_server*", "*A loopback HTTP server for the test; script it with*"]
    )


def test_mocked_http_responses_with_retries_and_batches(suite: pytest.Pytester) -> None:
    """Users script JSON responses and 429s with Retry-After on pynector_mock and get real Responses."""
    result = run(
        suite,
        """
        import trio
        import pynector
        from pynector.http import Response

        async def test_retry_after(pynector_mock, pynector_client, autojump_clock):
            pynector_mock.route("GET", "/quota").fail_status(429, retry_after=4).respond(
                status=200, json={"left": 9}
            )
            start = trio.current_time()
            response = await pynector_client.request_with_retry({"url": "/quota"}, max_retries=1)
            assert isinstance(response, Response)
            assert {"left": 9} == response.json()
            assert 4 == trio.current_time() - start

        async def test_batch(pynector_mock, pynector_client):
            pynector_mock.route("GET", "/a").respond(status=200, json="a")
            pynector_mock.route("GET", "/b").respond(status=404, json={"error": "gone"})
            a, b = await pynector_client.batch_request([({"url": "/a"}, {}), ({"url": "/b"}, {})])
            assert "a" == a.json()
            assert isinstance(b, pynector.NotFoundError)
            assert {"error": "gone"} == b.response.json()
        """,
    )
    result.assert_outcomes(passed=2)


def test_unhandled_error_status_fails_the_test_with_the_status(suite: pytest.Pytester) -> None:
    """Code that does not expect an error status fails showing the status error of the mocked response."""
    result = run(
        suite,
        """
        async def test_oops(pynector_mock, pynector_client):
            pynector_mock.route("GET", "/me").respond(status=401, json={"error": "bad token"})
            await pynector_client.request({"url": "/me"})
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*UnauthorizedError: 401 Unauthorized for GET /me*"])


def test_server_fixture_serves_in_the_tests_nursery(suite: pytest.Pytester) -> None:
    """pynector_http_server is started for the test, scripted by assigning its handler, and counts
    the connections the client opened and closed."""
    result = run(
        suite,
        """
        import trio
        import pynector
        from pynector.testing import HTTPResponse

        async def test_roundtrip(pynector_http_server):
            server = pynector_http_server
            server.handler = lambda request, conn: HTTPResponse.json({"path": request.path})
            async with pynector.Pynector(transport_type="http", base_url=server.url) as client:
                response = await client.request({"url": "/hello"})
            assert {"path": "/hello"} == response.json()
            with trio.fail_after(5):
                await server.wait_all_closed()
            assert (1, 1) == (server.connections_accepted, server.connections_closed)
            assert ["/hello"] == [r.path for r in server.requests]

        async def test_slow_answer(pynector_http_server, autojump_clock):
            async def slow(request, conn):
                await trio.sleep(30)
                return HTTPResponse(200, body=b"late")

            pynector_http_server.handler = slow
            async with pynector.Pynector(
                transport_type="http", base_url=pynector_http_server.url, timeout=5
            ) as client:
                try:
                    await client.request({"url": "/"})
                except pynector.TimeoutError:
                    pass
                else:
                    raise AssertionError("the deadline did not fire")
        """,
    )
    result.assert_outcomes(passed=2)


def test_server_fixture_fails_a_test_whose_handler_raised(suite: pytest.Pytester) -> None:
    """A handler bug, or a server used without a handler, fails the test at teardown, saying so."""
    result = run(
        suite,
        """
        import pynector

        async def test_forgot_handler(pynector_http_server):
            async with pynector.Pynector(
                transport_type="http", base_url=pynector_http_server.url, raise_for_status=False
            ) as client:
                assert 500 == (await client.request({"url": "/x"})).status_code

        async def test_handler_bug(pynector_http_server):
            pynector_http_server.handler = lambda request, conn: 1 / 0
            async with pynector.Pynector(
                transport_type="http", base_url=pynector_http_server.url, raise_for_status=False
            ) as client:
                await client.request({"url": "/y"})

        async def test_on_purpose(pynector_http_server):
            pynector_http_server.check_handler_errors_on_teardown = False
            pynector_http_server.handler = lambda request, conn: 1 / 0
            async with pynector.Pynector(
                transport_type="http", base_url=pynector_http_server.url, raise_for_status=False
            ) as client:
                await client.request({"url": "/z"})
        """,
    )
    result.assert_outcomes(passed=1, failed=2)  # pytest-trio reports async fixture teardown as the test's
    result.stdout.fnmatch_lines(
        [
            "*pynector_http_server: the handler raised 1 time(s)*",
            "*LookupError: pynector_http_server received GET /x but has no handler*",
        ]
    )
    result.stdout.fnmatch_lines(["*ZeroDivisionError: division by zero*"])
