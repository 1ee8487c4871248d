"""The test harness and the HTTP layer as one product.

MockTransport answers HTTP-shaped requests with real ``pynector.http.Response`` objects and raises the
status errors the HTTP transport raises; the loopback HTTP server streams bodies on trio's clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.testing

import pynector
from pynector.http import Response
from pynector.testing import HTTPRequest, HTTPResponse, MockTransport, ServerConnection, open_http_server

# --- MockTransport: real responses ----------------------------------------------------------------


async def test_respond_fields_build_a_real_http_response() -> None:
    """respond(status=, json=, headers=) answers with a pynector.http.Response for the request."""
    mock = MockTransport()
    mock.route("GET", "/users/1").respond(status=200, json={"id": 1}, headers={"X-Request-Id": "r1"})
    async with pynector.Pynector(transport=mock) as client:
        response = await client.request({"method": "get", "url": "/users/1?full=1"})
    assert isinstance(response, Response)
    assert (200, "OK", {"id": 1}) == (response.status_code, response.reason_phrase, response.json())
    assert "r1" == response.headers["x-request-id"]
    assert "application/json" == response.headers["content-type"]
    assert b'{"id": 1}' == bytes(response)
    assert ("GET", "/users/1?full=1") == (response.request.method, response.request.url)


async def test_respond_content_and_text() -> None:
    """content= takes bytes as they are and text as UTF-8 with a text/plain content type."""
    mock = MockTransport()
    mock.route(path="/raw").respond(status=201, content=b"\x00\x01", headers=[("Content-Type", "x/y")])
    mock.route(path="/text").respond(content="héllo")
    async with pynector.Pynector(transport=mock) as client:
        raw = await client.request({"method": "PUT", "url": "/raw"})
        text = await client.request({"url": "/text"})
    assert (201, b"\x00\x01", "x/y") == (raw.status_code, raw.content, raw.headers["content-type"])
    assert ("héllo", "text/plain; charset=utf-8") == (text.text, text.headers["content-type"])


async def users(client: pynector.Pynector) -> list[Any]:
    """What application code typically reads from a JSON API response, and from its error."""
    ok = await client.request({"method": "GET", "url": "/users/1"})
    with pytest.raises(pynector.NotFoundError) as info:
        await client.request({"method": "GET", "url": "/users/2"})
    missing = info.value.response
    return [
        ok.status_code,
        ok.reason_phrase,
        ok.json(),
        ok.headers["content-type"],
        ok.headers["x-version"],
        info.value.status_code,
        missing.status_code,
        missing.json(),
        type(missing),
    ]


async def test_the_mock_answers_like_the_http_transport() -> None:
    """The same application code sees the same responses and errors from the mock and a real server."""

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        if request.path == "/users/1":
            return HTTPResponse.json({"id": 1}, headers=[("X-Version", "3")])
        return HTTPResponse.json({"error": "no such user"}, status=404)

    async with (
        open_http_server(handler) as server,
        pynector.Pynector(transport_type="http", base_url=server.url) as client,
    ):
        real = await users(client)
    mock = MockTransport()
    mock.route("GET", "/users/1").respond(status=200, json={"id": 1}, headers={"X-Version": "3"})
    mock.route("GET", "/users/2").respond(status=404, json={"error": "no such user"})
    async with pynector.Pynector(transport=mock) as client:
        mocked = await users(client)
    assert real == mocked


async def test_error_status_is_returned_with_raise_for_status_off() -> None:
    """As with the HTTP transport, raise_for_status=False hands back the error response."""
    mock = MockTransport()
    mock.route("DELETE", "/x").respond(status=409, json={"error": "busy"})
    async with pynector.Pynector(transport=mock) as client:
        response = await client.request({"method": "DELETE", "url": "/x"}, raise_for_status=False)
    assert (409, {"error": "busy"}) == (response.status_code, response.json())


async def test_fail_status_carries_a_real_response_with_retry_after() -> None:
    """fail_status(429, retry_after=) raises RateLimitError whose response has the Retry-After header."""
    mock = MockTransport()
    mock.route("GET", "/limited").fail_status(429, retry_after=2.5)
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.RateLimitError) as info:
            await client.request({"url": "/limited"})
    error = info.value
    assert isinstance(error.response, Response)
    assert (429, 2.5, "2.5") == (error.status_code, error.retry_after, error.response.headers["retry-after"])
    assert "429 Too Many Requests for GET /limited" == str(error)


async def test_fail_status_for_requests_that_are_not_http_keeps_no_response() -> None:
    """A request without method or path (a prompt, a frame) gets the status error without a response."""
    mock = MockTransport()
    mock.route().fail_status(503, retry_after=1)
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.HTTPServerError) as info:
            await client.request("a prompt")
    assert (None, 1.0) == (info.value.response, info.value.retry_after)


async def test_request_with_retry_honours_the_responses_retry_after(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A 429 response with Retry-After 3 then 200: request_with_retry waits 3 s and returns the 200."""
    mock = MockTransport()
    route = mock.route("GET", "/r").fail_status(429, retry_after=3).respond(status=200, json=[1, 2])
    async with pynector.Pynector(transport=mock) as client:
        response = await client.request_with_retry({"method": "GET", "url": "/r"}, max_retries=2)
    assert [1, 2] == response.json()
    route.assert_called(times=2)
    assert 3.0 == mock.calls[1].started_at - mock.calls[0].ended_at


async def test_exhausted_retries_raise_the_last_status_error(autojump_clock: trio.testing.MockClock) -> None:
    """When every attempt gets 503, the final error carries the last response and the attempt count."""
    mock = MockTransport()
    mock.route("GET", "/down").respond(status=503, headers={"Retry-After": "1"})
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.HTTPServerError) as info:
            await client.request_with_retry({"url": "/down"}, max_retries=2)
    error = info.value
    assert (3, 503, 1.0) == (error.attempts, error.response.status_code, error.retry_after)
    assert 3 == len(mock.calls)


async def test_a_post_is_not_resent_after_a_status_error_unless_opted_in(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The resend rule applies to mocked HTTP responses as to real ones: a POST that got 503 is resent
    only on opt-in."""
    mock = MockTransport()
    route = mock.route("POST", "/orders").fail_status(503).respond(status=201, json={"id": 7})
    request = {"method": "POST", "url": "/orders", "json": {"item": "x"}}
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.HTTPServerError):
            await client.request_with_retry(request, max_retries=3)
        route.assert_called(times=1)
        route.reset().fail_status(503).respond(status=201, json={"id": 7})
        policy = pynector.RetryPolicy(max_retries=3, retry_non_idempotent=True)
        response = await client.request_with_retry(request, retry=policy)
    assert {"id": 7} == response.json()
    route.assert_called(times=3)


async def test_batch_request_gets_responses_and_status_errors_in_order() -> None:
    """A batch over mocked routes returns Responses in input order, with the failed slot's error."""
    mock = MockTransport()
    mock.route("GET", "/items/1").respond(status=200, json={"id": 1}, delay=0.2)
    mock.route("GET", "/items/2").fail_status(429, retry_after=5)
    mock.route("GET", "/items/3").respond(status=200, json={"id": 3})
    pairs = [({"method": "GET", "url": f"/items/{n}"}, {}) for n in (1, 2, 3)]
    async with pynector.Pynector(transport=mock) as client:
        results = await client.batch_request(pairs, max_concurrency=3)
    first, second, third = results
    assert ({"id": 1}, {"id": 3}) == (first.json(), third.json())
    assert isinstance(second, pynector.RateLimitError)
    assert (429, 5.0) == (second.response.status_code, second.retry_after)


# --- the loopback HTTP server: streamed bodies -------------------------------------------------------


async def test_streamed_body_is_sent_as_produced_on_trios_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An async iterable body reaches the client chunk by chunk, paced by trio.sleep in the handler."""

    async def events() -> AsyncIterator[bytes]:
        for n in range(3):
            await trio.sleep(1)
            yield f"data: {n}\n\n".encode()

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(200, [("Content-Type", "text/event-stream")], events())

    async with open_http_server(handler) as server:
        async with pynector.Pynector(transport_type="http", base_url=server.url) as client:
            start = trio.current_time()
            seen = []
            async with client.stream({"url": "/events"}) as response:
                async for chunk in response.aiter_bytes():
                    seen.append((trio.current_time() - start, chunk))
            assert "chunked" == response.headers["transfer-encoding"]
        with trio.fail_after(5):
            await server.wait_all_closed()
    assert [(1.0, b"data: 0\n\n"), (2.0, b"data: 1\n\n"), (3.0, b"data: 2\n\n")] == seen


async def test_handler_can_hang_up_mid_stream() -> None:
    """Closing the connection from the body iterator cuts the response: the client gets ReadError."""

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"partial"
            await conn.close()
            yield b"never sent"

        return HTTPResponse(200, body=body())

    async with open_http_server(handler) as server:
        async with pynector.Pynector(transport_type="http", base_url=server.url) as client:
            with pytest.raises(pynector.ReadError):
                await client.request({"url": "/"})
        with trio.fail_after(5):
            await server.wait_all_closed()
        assert 1 == server.connections_accepted


async def test_stalled_stream_ends_when_the_client_goes_away(autojump_clock: trio.testing.MockClock) -> None:
    """A body that stalls until the client hangs up is closed (its finally runs) when the client times out."""
    finished = trio.Event()

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        async def body() -> AsyncIterator[bytes]:
            try:
                yield b"first"
                await conn.wait_client_close()
            finally:
                finished.set()

        return HTTPResponse(200, body=body())

    async with open_http_server(handler) as server:
        async with pynector.Pynector(transport_type="http", base_url=server.url, timeout=10) as client:
            with pytest.raises(pynector.TimeoutError):
                await client.request({"url": "/"})
        with trio.fail_after(5):
            await finished.wait()
            await server.wait_all_closed()


async def test_failing_body_iterator_is_recorded_and_cuts_the_response() -> None:
    """A body iterator that raises closes the connection mid-body and lands in handler_errors."""

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"x"
            raise RuntimeError("generator bug")

        return HTTPResponse(200, body=body())

    async with (
        open_http_server(handler) as server,
        pynector.Pynector(transport_type="http", base_url=server.url) as client,
    ):
        with pytest.raises(pynector.ReadError):
            await client.request({"url": "/"})
    assert ["generator bug"] == [str(e) for e in server.handler_errors]


async def test_handler_can_be_swapped_while_serving() -> None:
    """Assigning server.handler changes the answers of the running server."""

    async def first(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(200, body=b"first")

    async with (
        open_http_server(first) as server,
        pynector.Pynector(transport_type="http", base_url=server.url) as client,
    ):
        before = (await client.request({"url": "/"})).content
        server.handler = lambda request, conn: HTTPResponse(200, body=b"second")
        after = (await client.request({"url": "/"})).content
    assert (b"first", b"second") == (before, after)
