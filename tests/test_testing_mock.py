"""MockTransport: routing, scripted answers and faults, recording, assertion helpers."""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import pynector
from pynector.testing import MockTransport, UnexpectedRequestError


@dataclass
class Request:
    """An HTTP-request-shaped object, as the HTTP layer's request objects are."""

    method: str
    url: str


# --- routing -------------------------------------------------------------------------------------


async def test_routes_by_method_and_path_of_request_dicts() -> None:
    """A dict request is routed on its method and the path of its URL (query ignored)."""
    mock = MockTransport()
    mock.route(method="GET", path="/users/1").respond({"id": 1})
    mock.route(method="DELETE", path="/users/1").respond("deleted")
    async with pynector.Pynector(transport=mock) as client:
        got = await client.request({"method": "get", "url": "http://127.0.0.1:8000/users/1?x=1"})
        deleted = await client.request({"method": "DELETE", "path": "/users/1"})
    assert {"id": 1} == got
    assert "deleted" == deleted


async def test_routes_objects_with_method_and_url_attributes() -> None:
    """Objects with ``method``/``url`` attributes are routed like dicts."""
    mock = MockTransport()
    mock.route("POST", "/items").respond(201)
    async with pynector.Pynector(transport=mock) as client:
        assert 201 == await client.request(Request("POST", "https://api.example.test/items"))
    assert ("POST", "/items") == (mock.calls[0].method, mock.calls[0].path)


async def test_method_and_url_can_come_from_the_options() -> None:
    """``client.request(body, method=..., url=...)`` is routed on the options."""
    mock = MockTransport()
    mock.route("PUT", "/k").respond("stored")
    async with pynector.Pynector(transport=mock) as client:
        assert "stored" == await client.request(b"value", method="PUT", url="/k")


async def test_regex_paths_match_the_whole_path() -> None:
    """A compiled regex route matches only when it matches the entire path."""
    mock = MockTransport()
    mock.route("GET", re.compile(r"/users/\d+")).respond("user")
    mock.route().respond("other")
    async with pynector.Pynector(transport=mock) as client:
        assert "user" == await client.request({"method": "GET", "path": "/users/42"})
        assert "other" == await client.request({"method": "GET", "path": "/users/42/posts"})


async def test_predicate_routes_any_request_shape() -> None:
    """Predicates receive ``(data, **options)`` and route non-HTTP requests."""
    mock = MockTransport()
    mock.route(predicate=lambda data, **o: data.startswith(b"PING")).respond(b"PONG")
    mock.route(predicate=lambda data, **o: o.get("topic") == "t").respond(b"ack")
    async with pynector.Pynector(transport=mock) as client:
        assert b"PONG" == await client.request(b"PING 1")
        assert b"ack" == await client.request(b"data", topic="t")


async def test_a_raising_predicate_is_reported_and_recorded() -> None:
    """A predicate that cannot handle a request shape fails with a ConfigurationError naming the route."""
    mock = MockTransport()
    mock.route(predicate=lambda data, **o: data.startswith(b"PING"), name="pings").respond(b"PONG")
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(
            pynector.ConfigurationError, match="predicate of route 'pings' raised AttributeError"
        ):
            await client.request({"method": "GET", "path": "/"})
    assert isinstance(mock.calls[0].exception, pynector.ConfigurationError)


async def test_first_matching_route_wins() -> None:
    """Routes are tried in the order they were added."""
    mock = MockTransport()
    specific = mock.route("GET", "/a").respond("specific")
    mock.route().respond("catch-all")
    async with pynector.Pynector(transport=mock) as client:
        results = [await client.request({"method": "GET", "path": p}) for p in ("/a", "/b")]
    assert ["specific", "catch-all"] == results
    assert 1 == specific.call_count


async def test_fallback_handler_sync_and_async() -> None:
    """Unrouted requests go to the fallback handler, sync or async, with the options."""

    async def async_handler(data: Any, **options: Any) -> Any:
        await trio.lowlevel.checkpoint()
        return (data, options)

    for handler in (lambda data, **options: (data, options), async_handler):
        mock = MockTransport(handler)
        async with pynector.Pynector(transport=mock) as client:
            assert ("x", {"k": 1}) == await client.request("x", k=1)
        assert [None] == [call.route for call in mock.calls]
        mock.assert_no_unexpected_requests()


# --- unexpected requests ---------------------------------------------------------------------


async def test_unmatched_request_raises_a_clear_pynector_error_and_is_recorded() -> None:
    """No route and no handler: UnexpectedRequestError naming the request and the routes."""
    mock = MockTransport()
    mock.route("GET", "/users/1").respond({"id": 1})
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(UnexpectedRequestError) as info:
            await client.request({"method": "GET", "url": "/users/2?token=secret"})
    message = str(info.value)
    assert isinstance(info.value, pynector.PynectorError)
    assert "GET /users/2" in message
    assert "GET /users/1" in message
    assert "secret" not in message
    assert info.value.call is mock.calls[0]
    assert mock.calls[0].unexpected
    assert info.value is mock.calls[0].exception


async def test_assert_no_unexpected_requests_lists_what_happened(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The assertion names the unexpected request and lists every call with its outcome."""
    mock = MockTransport()
    mock.route("GET", "/ok").respond("fine")
    async with pynector.Pynector(transport=mock) as client:
        await client.request({"method": "GET", "path": "/ok"})
        with pytest.raises(UnexpectedRequestError):
            await client.request({"method": "POST", "path": "/nope"})
    with pytest.raises(AssertionError) as info:
        mock.assert_no_unexpected_requests()
    message = str(info.value)
    assert "1 unexpected request(s) (no route matched): #2 POST /nope" in message
    assert "#1 [0.000-0.000s] GET /ok -> route GET /ok -> returned 'fine'" in message
    assert "#2 [0.000-0.000s] POST /nope -> no route matched -> raised UnexpectedRequestError" in message


async def test_unexpected_request_is_not_retried() -> None:
    """An unexpected request is a test bug, not a transport failure: it is never retried."""
    mock = MockTransport()
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(UnexpectedRequestError) as info:
            await client.request_with_retry("x", max_retries=3, retry_delay=0)
    assert 1 == info.value.attempts
    assert 1 == len(mock.calls)


# --- scripts ---------------------------------------------------------------------------------


async def test_steps_are_consumed_in_order_and_the_last_repeats() -> None:
    """respond(a).respond(b, times=2).respond(c): a, b, b, then c for every later request."""
    mock = MockTransport()
    mock.route().respond("a").respond("b", times=2).respond("c")
    async with pynector.Pynector(transport=mock) as client:
        results = [await client.request(i) for i in range(6)]
    assert ["a", "b", "b", "c", "c", "c"] == results


@given(st.lists(st.tuples(st.integers(0, 99), st.integers(1, 3)), min_size=1, max_size=5), st.integers(0, 4))
def test_script_order_property(steps: list[tuple[int, int]], extra: int) -> None:
    """For any script, answers follow the steps and their counts, then the last step repeats."""
    mock = MockTransport()
    route = mock.route()
    for value, times in steps:
        route.respond(value, times=times)
    expected = [value for value, times in steps for _ in range(times)] + [steps[-1][0]] * extra

    async def main() -> list[Any]:
        async with pynector.Pynector(transport=mock) as client:
            return [await client.request(i) for i in range(len(expected))]

    assert expected == trio.run(main)


async def test_concurrent_requests_consume_the_script_in_arrival_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Each request takes its step when it arrives, so a batch sees the script in input order."""
    mock = MockTransport()
    mock.route().respond(1, delay=3).respond(2, delay=1).respond(3)
    async with pynector.Pynector(transport=mock) as client:
        results = await client.batch_request([(i, {}) for i in range(3)], max_concurrency=3)
    assert [1, 2, 3] == results


async def test_respond_with_handler_sees_data_and_options() -> None:
    """respond_with(handler) calls the handler per request; its exception is the failure."""

    def handler(data: int, **options: Any) -> int:
        if data < 0:
            raise pynector.ProtocolError("negative")
        return data * options["factor"]

    mock = MockTransport()
    mock.route().respond_with(handler)
    async with pynector.Pynector(transport=mock) as client:
        assert 6 == await client.request(3, factor=2)
        with pytest.raises(pynector.ProtocolError):
            await client.request(-1, factor=2)


async def test_respond_fields_use_the_response_factory() -> None:
    """respond(status=..., json=...) builds each response with the transport's factory."""

    def factory(data: Any, options: Any, *, status: int, json: Any) -> dict[str, Any]:
        return {"status": status, "json": json, "for": data["path"]}

    mock = MockTransport(response_factory=factory)
    mock.route("GET", "/u").respond(status=200, json={"id": 1})
    async with pynector.Pynector(transport=mock) as client:
        response = await client.request({"method": "GET", "path": "/u"})
    assert {"status": 200, "json": {"id": 1}, "for": "/u"} == response


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"stauts": 200}, "stauts"),
        ({"json": {}, "content": b"x"}, "not both"),
        ({"status": 42}, "100..599"),
        ({"headers": {"X-Bad": "a\r\nb"}}, "CR, LF or NUL"),
    ],
)
def test_invalid_response_fields_fail_when_scripted(fields: dict[str, Any], match: str) -> None:
    """The default factory checks respond()'s fields when the answer is scripted, not at the request."""
    with pytest.raises(pynector.ConfigurationError, match=match):
        MockTransport().route().respond(**fields)


async def test_route_with_no_answer_scripted_says_so() -> None:
    """A route that matched but has no script fails with a ConfigurationError naming it."""
    mock = MockTransport()
    mock.route("GET", "/x")
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.ConfigurationError, match=r"route 'GET /x' matched GET /x"):
            await client.request({"method": "GET", "path": "/x"})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": ""}, "method"),
        ({"path": 3}, "path"),
        ({"predicate": 3}, "predicate"),
    ],
)
def test_invalid_route_criteria_are_rejected(kwargs: dict[str, Any], match: str) -> None:
    """Bad route criteria raise ConfigurationError when the route is added."""
    with pytest.raises(pynector.ConfigurationError, match=match):
        MockTransport().route(**kwargs)


@pytest.mark.parametrize(
    "script",
    [
        lambda r: r.respond(1, delay=-1),
        lambda r: r.respond(1, delay=float("inf")),
        lambda r: r.respond(1, times=0),
        lambda r: r.fail_status(200),
        lambda r: r.fail_status(503, retry_after=-1),
        lambda r: r.fail("not an exception"),
    ],
)
def test_invalid_scripts_are_rejected(script: Any) -> None:
    """Bad delays, counts, statuses and errors raise ConfigurationError when scripted."""
    with pytest.raises(pynector.ConfigurationError):
        script(MockTransport().route())


# --- scripted faults -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "error", "cause"),
    [
        (lambda r: r.fail_connect(), pynector.ConnectError, ConnectionRefusedError),
        (lambda r: r.fail_timeout(), pynector.TimeoutError, trio.TooSlowError),
        (lambda r: r.fail_reset(), pynector.ReadError, ConnectionResetError),
    ],
)
async def test_transport_faults_raise_pynector_errors_with_a_builtin_cause(
    script: Any, error: type[Exception], cause: type[BaseException]
) -> None:
    """Connect errors, timeouts and resets look like a real transport's failures."""
    mock = MockTransport()
    script(mock.route("GET", "/x"))
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(error) as info:
            await client.request({"method": "GET", "path": "/x"})
    assert isinstance(info.value.__cause__, cause)
    assert "GET /x" in str(info.value)
    assert "scripted" in str(info.value)


async def test_reset_cause_has_the_reset_errno() -> None:
    """The reset fault's cause carries ECONNRESET, like a kernel reset."""
    mock = MockTransport()
    mock.route().fail_reset()
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.ReadError) as info:
            await client.request("x")
    assert isinstance(info.value.__cause__, OSError)
    assert errno.ECONNRESET == info.value.__cause__.errno


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, pynector.UnauthorizedError),
        (404, pynector.NotFoundError),
        (429, pynector.RateLimitError),
        (418, pynector.HTTPClientError),
        (503, pynector.HTTPServerError),
    ],
)
async def test_status_faults_raise_the_most_specific_status_class(
    status: int, error: type[Exception]
) -> None:
    """fail_status raises the class the core maps that status to, with status and Retry-After."""
    mock = MockTransport()
    mock.route().fail_status(status, retry_after=2.5, response="raw")
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(error) as info:
            await client.request("x")
    assert (status, 2.5, "raw") == (info.value.status_code, info.value.retry_after, info.value.response)
    assert f"answered {status}" in str(info.value)


async def test_fail_with_an_exception_class_or_instance() -> None:
    """fail(cls) instantiates with a message; fail(instance) raises that instance."""
    boom = pynector.ProtocolError("garbage")
    mock = MockTransport()
    mock.route().fail(pynector.WriteError).fail(boom)
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.WriteError, match="scripted WriteError"):
            await client.request(1)
        with pytest.raises(pynector.ProtocolError) as info:
            await client.request(2)
    assert boom is info.value


async def test_builtin_errors_are_mapped_by_the_client() -> None:
    """fail(OSError) goes through the client's mapping like a real transport's OSError."""
    mock = MockTransport()
    mock.route().fail(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.ConnectError) as info:
            await client.request(1)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


# --- time ----------------------------------------------------------------------------------------


async def test_slow_response_takes_its_delay_on_trios_clock(autojump_clock: trio.testing.MockClock) -> None:
    """A delayed step takes exactly its delay on trio's clock, and the recorder says so."""
    mock = MockTransport()
    mock.route().respond("late", delay=2.5)
    start = trio.current_time()
    async with pynector.Pynector(transport=mock) as client:
        assert "late" == await client.request("x")
    call = mock.calls[0]
    assert 2.5 == trio.current_time() - start
    assert (start, start + 2.5, 2.5) == (call.started_at, call.ended_at, call.duration)


async def test_slow_response_beyond_the_client_timeout_times_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A delay longer than the request timeout gives pynector.TimeoutError; the call is cancelled."""
    mock = MockTransport()
    mock.route().respond("late", delay=10)
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.TimeoutError):
            await client.request("x", timeout=1)
    call = mock.calls[0]
    assert (True, None, 1.0) == (call.cancelled, call.exception, call.duration)


async def test_hang_waits_until_cancelled_and_leaks_nothing(autojump_clock: trio.testing.MockClock) -> None:
    """A hanging route holds the batch item until the batch deadline; no task is left behind."""
    mock = MockTransport()
    mock.route(predicate=lambda d, **o: d == 1).hang()
    mock.route().respond("ok")
    tasks_before = trio.lowlevel.current_statistics().tasks_living
    async with pynector.Pynector(transport=mock) as client:
        results = await client.batch_request([(0, {}), (1, {}), (2, {})], timeout=5)
    assert "ok" == results[0]
    assert isinstance(results[1], pynector.TimeoutError)
    assert "ok" == results[2]
    assert tasks_before == trio.lowlevel.current_statistics().tasks_living
    assert [False, True, False] == [c.cancelled for c in mock.calls]


async def test_cancelled_exchange_is_recorded_as_cancelled_not_as_an_exception(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Cancellation propagates untouched and is recorded without storing trio.Cancelled."""
    mock = MockTransport()
    mock.route().hang()
    async with pynector.Pynector(transport=mock) as client:
        with trio.move_on_after(1) as scope:
            await client.request("x")
    assert scope.cancelled_caught
    assert (True, None) == (mock.calls[0].cancelled, mock.calls[0].exception)
    assert "cancelled" in mock.calls[0].describe()


# --- retries -----------------------------------------------------------------------------------


async def test_retry_after_is_honoured_on_trios_clock(autojump_clock: trio.testing.MockClock) -> None:
    """A 503 with Retry-After 7 then success: request_with_retry waits exactly 7 s, 2 attempts."""
    mock = MockTransport()
    route = mock.route("GET", "/r").fail_status(503, retry_after=7).respond("ok")
    async with pynector.Pynector(transport=mock) as client:
        assert "ok" == await client.request_with_retry({"method": "GET", "path": "/r"}, max_retries=2)
    route.assert_called(times=2)
    assert 7.0 == mock.calls[1].started_at - mock.calls[0].ended_at


async def test_faults_then_success_with_zero_wait_retries(autojump_clock: trio.testing.MockClock) -> None:
    """With no_retry_wait, scripted faults are retried at once; attempts and waits are counted."""
    from pynector.testing import no_retry_wait

    mock = MockTransport()
    mock.route().fail_connect().fail_reset().fail_status(429, retry_after=30).respond("ok")
    policy = pynector.RetryPolicy(max_retries=5, initial_delay=1, jitter=0)
    start = trio.current_time()
    async with pynector.Pynector(transport=mock) as client:
        with no_retry_wait() as waits:
            assert "ok" == await client.request_with_retry("x", retry=policy)
    mock.assert_called(times=4)
    assert [1.0, 2.0, 30.0] == waits
    assert start == trio.current_time()


async def test_retries_exhausted_report_attempts() -> None:
    """A route that always times out: the last error carries the number of attempts."""
    from pynector.testing import no_retry_wait

    mock = MockTransport()
    mock.route().fail_timeout()
    async with pynector.Pynector(transport=mock) as client:
        with no_retry_wait(), pytest.raises(pynector.TimeoutError) as info:
            await client.request_with_retry("x", max_retries=2)
    assert 3 == info.value.attempts
    mock.assert_called(times=3)


# --- assertion helpers and lifecycle -----------------------------------------------------------


async def test_assert_called_messages_list_the_requests(autojump_clock: trio.testing.MockClock) -> None:
    """assert_called(times=N) failures say expected vs actual and list every request."""
    mock = MockTransport()
    users = mock.route("GET", "/users").respond([])
    mock.route("GET", "/health").respond("up")
    async with pynector.Pynector(transport=mock) as client:
        await client.request({"method": "GET", "path": "/health"})
    with pytest.raises(AssertionError) as info:
        users.assert_called(times=2)
    assert "expected the route 'GET /users' to be called 2 times, got 0 times" in str(info.value)
    assert "#1 [0.000-0.000s] GET /health -> route GET /health -> returned 'up'" in str(info.value)
    with pytest.raises(AssertionError, match="expected the mock transport not to be called, got once"):
        mock.assert_not_called()
    mock.assert_called()
    mock.assert_called(times=1)
    users.assert_not_called()


def test_assert_called_on_an_unused_transport() -> None:
    """assert_called() fails on a transport that saw nothing, and says so."""
    with pytest.raises(AssertionError, match=r"(?s)to be called, but it was not.*no requests were made"):
        MockTransport().assert_called()


async def test_assert_all_routes_used_names_the_unused_routes() -> None:
    """assert_all_routes_used lists the routes that never answered."""
    mock = MockTransport()
    mock.route("GET", "/a").respond(1)
    mock.route("GET", "/b").respond(2)
    mock.route(predicate=lambda d, **o: False, name="never").respond(3)
    async with pynector.Pynector(transport=mock) as client:
        await client.request({"method": "GET", "path": "/a"})
    with pytest.raises(AssertionError, match=r"2 route\(s\) never used: GET /b, never"):
        mock.assert_all_routes_used()


async def test_recorder_keeps_requests_options_and_results() -> None:
    """The recorder keeps each request's data, options and outcome in arrival order."""
    mock = MockTransport()
    mock.route().respond_with(lambda data, **o: data + 1)
    async with pynector.Pynector(transport=mock) as client:
        await client.batch_request([(1, {"tag": "a"}), (2, {})], max_concurrency=1)
    assert [1, 2] == mock.recorder.requests
    assert [{"tag": "a"}, {}] == [c.options for c in mock.calls]
    assert [2, 3] == [c.result for c in mock.calls]
    assert all(c.ok for c in mock.calls)


async def test_route_reset_replaces_the_script() -> None:
    """reset() drops the old script so new answers take effect at once."""
    mock = MockTransport()
    route = mock.route().respond("old")
    async with pynector.Pynector(transport=mock) as client:
        assert "old" == await client.request(1)
        route.reset().respond("new")
        assert "new" == await client.request(2)
    assert 2 == route.call_count


async def test_disconnected_mock_refuses_exchanges_until_reconnected() -> None:
    """After disconnect() exchanges raise ClientClosedError; connect() reopens; both are counted."""
    mock = MockTransport(lambda d, **o: d)
    await mock.connect()
    await mock.disconnect()
    with pytest.raises(pynector.ClientClosedError):
        await mock.exchange(1)
    await mock.connect()
    assert 2 == await mock.exchange(2)
    assert (2, 1) == (mock.connects, mock.disconnects)


async def test_client_does_not_disconnect_a_borrowed_mock() -> None:
    """Pynector(transport=mock) connects the mock once and leaves disconnecting to its owner."""
    mock = MockTransport(lambda d, **o: d)
    async with pynector.Pynector(transport=mock) as client:
        await client.request(1)
    assert (1, 0) == (mock.connects, mock.disconnects)
