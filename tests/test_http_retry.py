"""Retries over HTTP with an attempt-counting loopback server under ``autojump_clock``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
import trio
import trio.testing
from helpers.http_faults import tasks_living

import pynector
from pynector.http import parse_retry_after
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server

DATE = "Wed, 21 Oct 2015 07:28:00 GMT"
NO_JITTER = {"jitter": 0.0, "initial_delay": 1.0}


class Script:
    """Answers each attempt from a script; an entry is a response, "close" or "reset"."""

    def __init__(self, steps: Sequence[HTTPResponse | str]) -> None:
        self.steps = list(steps)
        self.attempts = 0
        self.times: list[float] = []

    async def __call__(self, request: HTTPRequest, conn: ServerConnection) -> HTTPResponse | None:
        step = self.steps[min(self.attempts, len(self.steps) - 1)]
        self.attempts += 1
        self.times.append(trio.current_time())
        if step == "close":
            await conn.close()
            return None
        if step == "reset":
            conn.reset()
            return None
        assert isinstance(step, HTTPResponse)
        return step


def busy(status: int, retry_after: str | None) -> HTTPResponse:
    headers = [("Date", DATE)]
    if retry_after is not None:
        headers.append(("Retry-After", retry_after))
    return HTTPResponse(status, headers, body=b"busy")


OK = HTTPResponse(200, body=b"ok")


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_wait"),
    [
        (503, "3", 3.0),
        (429, "Wed, 21 Oct 2015 07:28:05 GMT", 5.0),
        (503, "Wed, 21 Oct 2015 07:00:00 GMT", 0.0),
        (429, "soon, maybe", 1.0),
        (503, None, 1.0),
    ],
    ids=["seconds", "http-date-future", "http-date-past", "garbage", "absent"],
)
async def test_retry_after_forms(
    http_engine: str,
    autojump_clock: trio.testing.MockClock,
    status: int,
    retry_after: str | None,
    expected_wait: float,
) -> None:
    """429/503 are retried after Retry-After (seconds or HTTP-date), else after the backoff."""
    script = Script([busy(status, retry_after), OK])
    async with (
        open_http_server(script) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        response = await client.request_with_retry({"url": "/"}, retry=pynector.RetryPolicy(**NO_JITTER))
    assert b"ok" == response.content
    assert 2 == script.attempts
    assert expected_wait == pytest.approx(script.times[1] - script.times[0], abs=0.01)


async def test_retry_after_beyond_the_deadline_fails_at_once(
    http_engine: str, autojump_clock: trio.testing.MockClock
) -> None:
    """A Retry-After that would pass the retry deadline raises the status error without sleeping."""
    script = Script([busy(429, "60"), OK])
    async with (
        open_http_server(script) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        start = trio.current_time()
        with pytest.raises(pynector.RateLimitError) as info:
            await client.request({"url": "/"}, retry=pynector.RetryPolicy(timeout=10, **NO_JITTER))
        assert 0 == pytest.approx(trio.current_time() - start, abs=0.01)
    assert 1 == script.attempts
    assert 1 == info.value.attempts
    assert 60.0 == info.value.retry_after


async def test_retry_option_on_request(http_engine: str, autojump_clock: trio.testing.MockClock) -> None:
    """request(..., retry=RetryPolicy(...)) retries; exhaustion raises the last error with attempts."""
    script = Script([busy(503, "1")])
    async with (
        open_http_server(script) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        with pytest.raises(pynector.HTTPServerError) as info:
            await client.request("/", retry=pynector.RetryPolicy(max_retries=2, **NO_JITTER))
    assert 3 == script.attempts
    assert 3 == info.value.attempts


async def test_other_4xx_are_never_retried(http_engine: str, autojump_clock: trio.testing.MockClock) -> None:
    """A 404 is never retried: it is returned to the caller after one attempt."""
    script = Script([HTTPResponse(404), OK])
    async with (
        open_http_server(script) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        with pytest.raises(pynector.NotFoundError):
            await client.request_with_retry("/", retry=pynector.RetryPolicy(**NO_JITTER))
    assert 1 == script.attempts


@pytest.mark.parametrize(
    ("method", "step", "policy", "expected_attempts"),
    [
        ("GET", "close", {}, 2),
        ("PUT", "reset", {}, 2),
        ("POST", "close", {}, 1),
        ("POST", "reset", {}, 1),
        ("PATCH", busy(503, "1"), {}, 1),
        ("POST", "close", {"retry_non_idempotent": True}, 2),
        ("POST", busy(503, "1"), {"retry_non_idempotent": True}, 2),
    ],
    ids=["get-read", "put-reset", "post-read", "post-reset", "patch-503", "post-optin", "post-503-optin"],
)
async def test_r3_idempotency(
    http_engine: str,
    autojump_clock: trio.testing.MockClock,
    method: str,
    step: HTTPResponse | str,
    policy: dict[str, bool],
    expected_attempts: int,
) -> None:
    """After the request may have been sent, only idempotent methods are resent unless opted in."""
    script = Script([step, OK])
    async with (
        open_http_server(script) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        request = {"method": method, "url": "/", "content": b"x"}
        retry = pynector.RetryPolicy(**NO_JITTER, **policy)
        if expected_attempts == 1:
            with pytest.raises(pynector.PynectorError) as info:
                await client.request(request, retry=retry)
            assert info.value.request_sent is True
            assert method == info.value.http_method
        else:
            assert b"ok" == (await client.request(request, retry=retry)).content
    assert expected_attempts == script.attempts


async def test_connect_failures_are_retried_for_any_method(
    http_engine: str, autojump_clock: trio.testing.MockClock
) -> None:
    """A POST that never left the client (connection refused) is retried: the server never saw it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with pynector.Pynector(transport_type=http_engine) as client:
        with pytest.raises(pynector.ConnectError) as info:
            await client.request(
                {"method": "POST", "url": f"http://127.0.0.1:{port}/", "json": {}},
                retry=pynector.RetryPolicy(max_retries=2, **NO_JITTER),
            )
    assert 3 == info.value.attempts
    assert info.value.request_sent is False


async def test_cancellation_during_a_retry_wait(
    http_engine: str, autojump_clock: trio.testing.MockClock
) -> None:
    """An outer cancellation during a Retry-After wait ends the call at once, leaving nothing behind."""
    script = Script([busy(503, "100"), OK])
    async with open_http_server(script) as server:
        baseline = tasks_living()
        async with pynector.Pynector(transport_type=http_engine, base_url=server.url) as client:
            start = trio.current_time()
            with trio.move_on_after(2) as scope:
                await client.request_with_retry("/", retry=pynector.RetryPolicy(**NO_JITTER))
            assert scope.cancelled_caught
            assert 2 == pytest.approx(trio.current_time() - start, abs=0.01)
        with trio.fail_after(5):
            await server.wait_all_closed()
        await trio.testing.wait_all_tasks_blocked()
        assert baseline == tasks_living()
    assert 1 == script.attempts


async def test_a_streamed_body_is_never_resent(
    http_engine: str, autojump_clock: trio.testing.MockClock
) -> None:
    """A retry of a request whose body was an async iterable fails clearly instead of sending it empty."""

    async def body() -> AsyncIterator[bytes]:
        yield b"once"

    script = Script([busy(503, "1"), OK])
    async with (
        open_http_server(script) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        with pytest.raises(pynector.ConfigurationError, match="already sent"):
            await client.request(
                {"method": "PUT", "url": "/", "content": body()}, retry=pynector.RetryPolicy(**NO_JITTER)
            )
    assert 1 == script.attempts
    assert b"once" == server.requests[0].body


async def test_streams_reject_retry(http_engine: str) -> None:
    """A streamed request cannot carry a retry policy: a response handed over cannot be fetched again."""
    async with pynector.Pynector(transport_type=http_engine) as client:
        with pytest.raises(pynector.ConfigurationError, match="not supported for streamed requests"):
            async with client.stream("http://127.0.0.1:1/", retry=pynector.RetryPolicy()):
                raise AssertionError("not reached")


@pytest.mark.parametrize(
    ("value", "date", "expected"),
    [
        ("120", None, 120.0),
        (" 0 ", None, 0.0),
        ("1.5", None, 1.5),
        ("-3", None, None),
        ("nan", None, None),
        ("", None, None),
        ("Wed, 21 Oct 2015 07:28:30 GMT", DATE, 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", DATE, 0.0),
        ("Thu, 01 Jan 1970 00:00:00 GMT", None, 0.0),
        ("tomorrow", DATE, None),
        (None, DATE, None),
    ],
)
def test_parse_retry_after(value: str | None, date: str | None, expected: float | None) -> None:
    """Retry-After parses seconds and HTTP-dates (against Date) and rejects garbage."""
    assert expected == parse_retry_after(value, date)
