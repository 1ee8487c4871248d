"""The client's retry and batch contracts, driven by scripted faults from pynector.testing.MockTransport.

Each test states the guarantee it checks in its docstring.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

import pynector
from pynector.testing import MockTransport, no_retry_wait


async def test_other_4xx_are_never_retried() -> None:
    """A 404 is never retried: it is raised after one attempt, even with retries left."""
    mock = MockTransport()
    mock.route().fail_status(404).respond("never")
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.NotFoundError) as info:
            await client.request_with_retry("x", max_retries=5)
    assert (1, 1) == (info.value.attempts, len(mock.calls))


async def test_retry_after_beyond_the_cap_fails_at_once(autojump_clock: trio.testing.MockClock) -> None:
    """A Retry-After longer than max_retry_after ends the retries without sleeping."""
    mock = MockTransport()
    mock.route().fail_status(429, retry_after=3600).respond("late")
    start = trio.current_time()
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.RateLimitError) as info:
            await client.request_with_retry("x", retry=pynector.RetryPolicy(max_retry_after=60))
    assert (1, 3600) == (info.value.attempts, info.value.retry_after)
    assert start == trio.current_time()


async def test_a_wait_past_the_total_deadline_fails_at_once(autojump_clock: trio.testing.MockClock) -> None:
    """When the next wait would pass the policy's timeout, the last error is raised now, not after it."""
    mock = MockTransport()
    mock.route().fail_reset(delay=1)
    policy = pynector.RetryPolicy(max_retries=10, initial_delay=4, jitter=0, timeout=10)
    start = trio.current_time()
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.ReadError) as info:
            await client.request_with_retry("x", retry=policy)
    # attempt (1 s), wait 4, attempt (1 s): the next wait (8 s) would end at 14 > 10.
    assert (2, 6.0) == (info.value.attempts, trio.current_time() - start)


async def test_total_deadline_during_an_attempt(autojump_clock: trio.testing.MockClock) -> None:
    """The policy's timeout also bounds an attempt in progress, as a pynector.TimeoutError."""
    mock = MockTransport()
    mock.route().fail_reset().hang()
    policy = pynector.RetryPolicy(max_retries=3, initial_delay=1, jitter=0, timeout=5)
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.TimeoutError) as info:
            await client.request_with_retry("x", retry=policy)
    assert 2 == info.value.attempts
    assert mock.calls[1].cancelled


async def test_cancellation_during_a_retry_wait_propagates_and_leaks_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Cancelling during a backoff wait ends the call at once; no task is left."""
    mock = MockTransport()
    mock.route().fail_connect()
    tasks_before = trio.lowlevel.current_statistics().tasks_living
    async with pynector.Pynector(transport=mock) as client:
        with trio.move_on_after(2.5) as scope:
            await client.request_with_retry("x", retry=pynector.RetryPolicy(initial_delay=10))
    assert scope.cancelled_caught
    assert 1 == len(mock.calls)
    assert tasks_before == trio.lowlevel.current_statistics().tasks_living


async def test_batch_slots_hold_each_items_own_outcome(autojump_clock: trio.testing.MockClock) -> None:
    """Every fault stays in its own slot, in input order, and the healthy items succeed."""
    mock = MockTransport()
    mock.route("GET", "/connect").fail_connect()
    mock.route("GET", "/reset").fail_reset()
    mock.route("GET", "/busy").fail_status(503, retry_after=1)
    mock.route("GET", "/hang").hang()
    mock.route("GET", "/slow").respond("slow", delay=3)
    mock.route().respond_with(lambda data, **o: data["path"])
    paths = ["/ok1", "/connect", "/reset", "/busy", "/hang", "/slow", "/ok2"]
    async with pynector.Pynector(transport=mock) as client:
        results = await client.batch_request(
            [({"method": "GET", "path": p}, {}) for p in paths], max_concurrency=3, timeout=5
        )
    kinds = [r if isinstance(r, str) else type(r) for r in results]
    expected = [
        "/ok1",
        pynector.ConnectError,
        pynector.ReadError,
        pynector.HTTPServerError,
        pynector.TimeoutError,
        "slow",
        "/ok2",
    ]
    assert expected == kinds
    mock.assert_all_routes_used()


async def test_batch_raise_on_error_raises_the_first_failure_in_input_order() -> None:
    """raise_on_error: one plain exception (not an ExceptionGroup), the earliest failed slot."""
    mock = MockTransport()
    mock.route(predicate=lambda d, **o: d == 2).fail_reset()
    mock.route(predicate=lambda d, **o: d == 1).fail_status(429)
    mock.route().respond("ok")
    async with pynector.Pynector(transport=mock) as client:
        with pytest.raises(pynector.RateLimitError):
            await client.batch_request([(i, {}) for i in range(4)], raise_on_error=True)


async def test_retries_inside_a_batch_with_zero_waits() -> None:
    """A batch of request_with_retry calls over flaky routes all succeed, without waiting."""
    mock = MockTransport()
    for item in range(5):
        route = mock.route(predicate=lambda d, item=item, **o: d == item)
        if item:
            route.fail_reset(times=item)  # item i fails i times before answering
        route.respond(item)
    async with pynector.Pynector(transport=mock) as client:

        async def fetch(item: int, results: list[int]) -> None:
            results.append(await client.request_with_retry(item, max_retries=5))

        results: list[int] = []
        with no_retry_wait() as waits:
            async with trio.open_nursery() as nursery:
                for item in range(5):
                    nursery.start_soon(fetch, item, results)
    assert [0, 1, 2, 3, 4] == sorted(results)
    assert 0 + 1 + 2 + 3 + 4 == len(waits)
    mock.assert_called(times=5 + 10)
