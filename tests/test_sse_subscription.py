"""Server-sent events end to end: aiter_sse on both HTTP engines, subscriptions that reconnect,
deadlines on trio's clock, backpressure, and many subscriptions in one bounded batch."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import pynector
from pynector import NotFoundError, ProtocolError, ReadError, RetryPolicy, TimeoutError
from pynector.sse import ServerSentEvent, SSETransport
from pynector.testing import (
    HTTPRequest,
    HTTPResponse,
    HTTPServer,
    MockTransport,
    ServerConnection,
    SSEDelay,
    SSEDrop,
    open_http_server,
)

FAST = RetryPolicy(max_retries=3, initial_delay=0.01, jitter=0)


@asynccontextmanager
async def served(handler: Any, engine: str) -> AsyncIterator[tuple[HTTPServer, pynector.Pynector]]:
    """A loopback server running *handler* and a client of *engine* for it."""
    async with (
        open_http_server(handler) as server,
        pynector.Pynector(transport_type=engine, base_url=server.url) as client,
    ):
        yield server, client


def mock_client() -> tuple[MockTransport, pynector.Pynector]:
    mock = MockTransport()
    return mock, pynector.Pynector(transport=mock)


async def test_aiter_sse_reads_typed_events_on_both_engines(http_engine: str) -> None:
    """A streamed response yields typed events, chunked any way on the wire."""
    raw = b": hi\r\nevent: add\r\nid: 1\r\ndata: a\r\ndata: b\r\n\r\nretry: 50\r\ndata: c\r\n\r\n"

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(200, [("Content-Type", "text/event-stream")], [raw[:9], raw[9:31], raw[31:]])

    async with served(handler, http_engine) as (_, client), client.stream("/events") as response:
        events = [event async for event in response.aiter_sse()]
    expected = [ServerSentEvent("a\nb", "add", "1"), ServerSentEvent("c", "message", "1", 50)]
    assert expected == events


async def test_a_non_event_stream_answer_is_a_clear_error_and_not_retried(http_engine: str) -> None:
    """A JSON answer to a subscription raises ProtocolError naming the content type, at once."""

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse.json({"not": "events"})

    async with served(handler, http_engine) as (server, client):
        async with client.stream("/events") as response:
            with pytest.raises(ProtocolError, match="application/json, not text/event-stream"):
                response.aiter_sse()
        async with client.subscribe("/events", retry=FAST) as events:
            with pytest.raises(ProtocolError, match="not text/event-stream"):
                await events.__anext__()
    assert 2 == len(server.requests)  # one for aiter_sse, one for the subscription: no retry


async def test_reconnects_with_last_event_id_after_a_drop(http_engine: str) -> None:
    """A dropped stream is resumed: the server sees Last-Event-ID of the last event received."""

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        if request.header("last-event-id") is None:
            steps: list[Any] = [ServerSentEvent("one", id="1"), ServerSentEvent("two", id="2"), SSEDrop()]
        else:
            steps = [ServerSentEvent("three", id="3")]
        return HTTPResponse.sse([ServerSentEvent("", retry=10), *steps], conn)

    async with (
        served(handler, http_engine) as (server, client),
        client.subscribe("/feed", retry=FAST) as events,
    ):
        received = [(await events.__anext__()).data for _ in range(4)]
        assert 2 == events.connections
        assert "2" == events.last_event_id  # of the last event handed out, not read ahead
    assert ["", "one", "two", ""] == received[:4]
    assert [None, "2"] == [r.header("last-event-id") for r in server.requests[:2]]
    assert "text/event-stream" == server.requests[0].header("accept")


async def test_server_closing_cleanly_is_a_drop_unless_reconnect_is_off(http_engine: str) -> None:
    """reconnect=False ends the iteration when the server ends the stream."""

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse.sse(["a", "b"])

    async with (
        served(handler, http_engine) as (server, client),
        client.subscribe("/feed", reconnect=False) as events,
    ):
        assert ["a", "b"] == [event.data async for event in events]
    assert 1 == len(server.requests)


async def test_204_ends_the_subscription(http_engine: str) -> None:
    """The server says stop with 204 No Content: no reconnection."""

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        if request.header("last-event-id"):
            return HTTPResponse(204)
        return HTTPResponse.sse([ServerSentEvent("a", id="1")])

    async with (
        served(handler, http_engine) as (server, client),
        client.subscribe("/feed", retry=FAST) as events,
    ):
        assert ["a"] == [event.data async for event in events]
    assert 2 == len(server.requests)


async def test_leaving_early_closes_the_connection_and_leaves_no_task(http_engine: str) -> None:
    """break out of an endless subscription: the server sees the connection closed."""

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        # Keep-alive comments every 10 ms (real time): the server notices the client left when a
        # write fails, as real servers do.
        return HTTPResponse.sse(["a", *[SSEDelay(0.01), b": ping\n\n"] * 1000])

    async with open_http_server(handler) as server:
        before = trio.lowlevel.current_statistics().tasks_living
        async with (
            pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
            client.subscribe("/feed") as events,
        ):
            async for _ in events:
                break
        with trio.fail_after(5):
            await server.wait_all_closed()
        await trio.testing.wait_all_tasks_blocked()
        assert before == trio.lowlevel.current_statistics().tasks_living


async def test_many_subscriptions_in_one_bounded_stream_batch(http_engine: str) -> None:
    """stream_batch over the sse transport: every feed's events, never more connections than allowed."""
    open_now = 0
    most = 0

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        async def body() -> AsyncIterator[bytes]:
            nonlocal open_now, most
            open_now += 1
            most = max(most, open_now)
            try:
                for i in range(3):
                    await trio.sleep(0.001)  # real time: a real server, the feeds overlap
                    yield f"data: {request.path}-{i}\n\n".encode()
            finally:
                open_now -= 1

        return HTTPResponse(200, [("Content-Type", "text/event-stream")], body())

    async with open_http_server(handler) as server:
        client = pynector.Pynector(transport_type="sse", engine=http_engine, base_url=server.url)
        async with (
            client,
            client.stream_batch([(f"/f{i}", {}) for i in range(12)], max_concurrency=3) as results,
        ):
            got = {index: [e.data for e in result] async for index, result in results}
    assert {i: [f"/f{i}-0", f"/f{i}-1", f"/f{i}-2"] for i in range(12)} == got
    assert most <= 3


async def test_sse_transport_max_events_stops_an_endless_feed(http_engine: str) -> None:
    """exchange(max_events=N) returns after N events, reconnecting when needed."""

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        last = int(request.header("last-event-id") or 0)
        return HTTPResponse.sse([ServerSentEvent(str(last + 1), id=str(last + 1), retry=1), SSEDrop()], conn)

    async with open_http_server(handler) as server:
        inner = pynector.Pynector(transport_type=http_engine, base_url=server.url).transport
        async with pynector.Pynector(transport=SSETransport(inner, retry=FAST)) as client:
            events = await client.request("/n", max_events=3)
    assert ["1", "2", "3"] == [e.data for e in events]


# --- on the mock transport and trio's clock -----------------------------------------------------


async def test_server_retry_field_sets_the_reconnection_wait(autojump_clock: trio.testing.MockClock) -> None:
    """retry: 3000 makes the next connection start 3 s after the drop."""
    mock, client = mock_client()
    route = mock.route("GET", "/feed")
    route.respond_sse([ServerSentEvent("a", id="1", retry=3000), SSEDrop()]).respond_sse(["b"])
    async with client, client.subscribe("/feed", reconnect=False) as events:
        assert ["a", "b"] == [event.data async for event in events]
    first, second = route.calls
    assert 3.0 == pytest.approx(second.started_at - first.started_at)
    assert ("Last-Event-ID", "1") in second.request["headers"]


async def test_retry_after_of_a_503_is_honoured(autojump_clock: trio.testing.MockClock) -> None:
    """A 503 with Retry-After: 7 delays the reconnection by 7 s (not the backoff)."""
    mock, client = mock_client()
    route = mock.route("GET", "/feed").fail_status(503, retry_after=7).respond_sse(["a"])
    async with client, client.subscribe("/feed", retry=FAST, reconnect=False) as events:
        assert ["a"] == [event.data async for event in events]
    first, second = route.calls
    assert 7.0 == pytest.approx(second.started_at - first.started_at)


async def test_consecutive_failures_follow_the_policy_backoff(autojump_clock: trio.testing.MockClock) -> None:
    """Without hints the waits are the retry policy's backoff: 2 s, then 4 s."""
    mock, client = mock_client()
    route = mock.route("GET", "/feed").fail_connect(times=2).respond_sse(["a"])
    policy = RetryPolicy(max_retries=5, initial_delay=2, multiplier=2, jitter=0)
    async with client, client.subscribe("/feed", retry=policy, reconnect=False) as events:
        assert ["a"] == [event.data async for event in events]
    starts = [call.started_at for call in route.calls]
    assert [2.0, 4.0] == pytest.approx([b - a for a, b in itertools.pairwise(starts)])


async def test_retries_exhausted_raise_the_last_error(autojump_clock: trio.testing.MockClock) -> None:
    """A stream that keeps dropping before any event fails after the policy's retries."""
    mock, client = mock_client()
    route = mock.route("GET", "/feed").respond_sse([SSEDrop()])
    async with client, client.subscribe("/feed", retry=FAST) as events:
        with pytest.raises(ReadError, match="dropped"):
            await events.__anext__()
    assert 4 == route.call_count


async def test_a_connection_that_delivered_events_resets_the_retry_count(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Drops after events never exhaust the retries: each healthy connection starts afresh."""
    mock, client = mock_client()
    mock.route("GET", "/feed").respond_sse(["x", SSEDrop()])
    policy = RetryPolicy(max_retries=1, initial_delay=1, jitter=0)
    async with client, client.subscribe("/feed", retry=policy) as events:
        received = [(await events.__anext__()).data for _ in range(6)]
    assert ["x"] * 6 == received


async def test_a_4xx_is_not_retried(autojump_clock: trio.testing.MockClock) -> None:
    """404 ends the subscription with NotFoundError after one request."""
    mock, client = mock_client()
    route = mock.route("GET", "/feed").fail_status(404)
    async with client, client.subscribe("/feed", retry=FAST) as events:
        with pytest.raises(NotFoundError):
            await events.__anext__()
    assert 1 == route.call_count


async def test_idle_timeout_reconnects_and_then_fails(autojump_clock: trio.testing.MockClock) -> None:
    """No event for idle_timeout seconds counts as a drop; comments do not count as events."""
    mock, client = mock_client()
    silent = [b": ping\n\n", SSEDelay(5), b": ping\n\n", SSEDelay(3600)]
    route = mock.route("GET", "/feed").respond_sse(["a", *silent]).respond_sse(silent)
    policy = RetryPolicy(max_retries=1, initial_delay=1, jitter=0)
    async with client, client.subscribe("/feed", retry=policy, idle_timeout=10) as events:
        assert "a" == (await events.__anext__()).data
        start = trio.current_time()
        with pytest.raises(TimeoutError, match="no event for 10s"):
            await events.__anext__()
    # 10 s idle, a fresh count: wait 1 s, 10 s idle, wait 1 s, 10 s idle, retries exhausted.
    assert 32.0 == pytest.approx(trio.current_time() - start)
    assert 3 == route.call_count


async def test_total_timeout_is_separate_from_the_idle_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """timeout= bounds the whole subscription even while events keep coming."""
    mock, client = mock_client()
    mock.route("GET", "/feed").respond_sse(["a", SSEDelay(4)] * 100)
    async with client, client.subscribe("/feed", idle_timeout=5, timeout=30) as events:
        start = trio.current_time()
        with pytest.raises(TimeoutError, match="total timeout of 30s"):
            async for _ in events:
                pass
    assert 30.0 == pytest.approx(trio.current_time() - start)


async def test_a_slow_consumer_slows_the_reading(autojump_clock: trio.testing.MockClock) -> None:
    """Backpressure: while the consumer holds back, at most one chunk more is read."""
    mock, client = mock_client()
    pulled = 0

    class Counting:
        def __aiter__(self) -> Counting:
            return self

        async def __anext__(self) -> bytes:
            nonlocal pulled
            pulled += 1
            await trio.lowlevel.checkpoint()
            return b"data: x\n\n"

    def answer(data: Any, **options: Any) -> Any:
        from pynector.http._model import build_streamed_response

        return build_streamed_response(
            "GET", "/feed", Counting(), headers=[("Content-Type", "text/event-stream")]
        )

    mock.route("GET", "/feed").respond_with(answer)
    async with client, client.subscribe("/feed") as events:
        await events.__anext__()
        await trio.sleep(60)  # a slow consumer
        assert pulled <= 2
        for _ in range(10):
            await events.__anext__()
        assert pulled <= 12


async def test_subscribe_needs_a_streaming_transport() -> None:
    """A transport without stream() is refused when subscribing, with a clear message."""
    client = pynector.Pynector(transport_type="memory", handler=lambda data: data)
    with pytest.raises(pynector.ConfigurationError, match="memory transport does not support streaming"):
        client.subscribe("/feed")


async def test_bad_subscription_arguments_are_refused_on_entering(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Invalid arguments fail when the block is entered, not later in the reading task."""
    _, client = mock_client()
    with pytest.raises(pynector.ConfigurationError, match="idle_timeout"):
        async with client.subscribe("/feed", idle_timeout=-1):
            pass
    with pytest.raises(pynector.ConfigurationError, match="last_event_id"):
        async with client.subscribe("/feed", last_event_id="a\nb"):
            pass
    with pytest.raises(pynector.ConfigurationError, match="URL string or a request dict"):
        async with client.subscribe(42):
            pass


async def test_errors_leave_the_block_as_plain_exceptions(autojump_clock: trio.testing.MockClock) -> None:
    """Neither the subscription's error nor the consumer's own leaves as an ExceptionGroup."""
    mock, client = mock_client()
    mock.route("GET", "/feed").fail_status(404)
    with pytest.raises(NotFoundError):
        async with client.subscribe("/feed") as events:
            await events.__anext__()
    mock.route("GET", "/ok").respond_sse(["a"])

    async def consume() -> None:
        async with client.subscribe("/ok") as events:
            await events.__anext__()
            raise KeyError("the consumer's own error")

    with pytest.raises(KeyError):
        await consume()


async def test_each_connection_is_one_attempt_in_the_statistics(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A stream that ends cleanly completes its attempt; leaving the block cancels the last one."""
    mock, client = mock_client()
    mock.route("GET", "/feed").respond_sse(["a"]).respond_sse(["b", SSEDelay(3600)])
    async with client, client.subscribe("/feed", retry=FAST) as events:
        assert ["a", "b"] == [(await events.__anext__()).data for _ in range(2)]
    stats = client.statistics()
    assert (0, 1, 0) == (stats.in_flight, stats.completed, stats.failed)
