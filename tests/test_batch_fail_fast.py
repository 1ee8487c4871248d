"""batch_request over the shared engine: lazy inputs, fail_fast accounting, input errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import pynector

NO_OPTIONS: dict[str, Any] = {}


def make_handler(delays: list[float], failing: frozenset[int]) -> Any:
    async def handler(data: int, **options: Any) -> int:
        await trio.sleep(delays[data])
        if data in failing:
            raise KeyError(data)
        return data

    return handler


@given(
    n=st.integers(1, 60),
    concurrency=st.integers(1, 8),
    delays=st.lists(st.sampled_from([0.0, 0.1, 0.5, 2.0]), min_size=60, max_size=60),
    failing=st.frozensets(st.integers(0, 59), max_size=6),
)
def test_fail_fast_every_slot_accounted(
    n: int, concurrency: int, delays: list[float], failing: frozenset[int]
) -> None:
    """With fail_fast, each slot is its result, its own failure, or cancelled by the one stopping failure."""

    async def main() -> list[Any]:
        handler = make_handler(delays, failing)
        async with pynector.Pynector(transport_type="memory", handler=handler) as client:
            return await client.batch_request(
                [(i, NO_OPTIONS) for i in range(n)], max_concurrency=concurrency, fail_fast=True
            )

    results = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert n == len(results)
    cancelled = [r for r in results if isinstance(r, pynector.BatchCancelledError)]
    failures = [r for r in results if isinstance(r, KeyError)]
    for index, result in enumerate(results):
        if isinstance(result, KeyError):
            assert index in failing
        elif not isinstance(result, pynector.BatchCancelledError):
            assert index == result
    if not failing & set(range(n)):
        assert [] == cancelled
    else:
        assert failures
    causes = {id(r.__cause__) for r in cancelled}
    assert len(causes) <= 1
    if cancelled:
        assert any(r is cancelled[0].__cause__ for r in failures)


async def test_fail_fast_never_starts_the_rest(autojump_clock: trio.testing.MockClock) -> None:
    """The first failure stops the batch: items not yet started are never sent."""
    started: list[int] = []

    async def handler(data: int, **options: Any) -> int:
        started.append(data)
        await trio.sleep(0.5 if data == 1 else 1.0)
        if data == 1:
            raise KeyError(data)
        return data

    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        results = await client.batch_request(
            [(i, NO_OPTIONS) for i in range(10)], max_concurrency=2, fail_fast=True
        )
    assert [0, 1] == started
    assert isinstance(results[1], KeyError)
    assert all(isinstance(r, pynector.BatchCancelledError) for r in [results[0], *results[2:]])
    assert "batch item 5 was cancelled by fail_fast after item 1 failed" in str(results[5])


async def test_fail_fast_raise_on_error_raises_the_failure(autojump_clock: trio.testing.MockClock) -> None:
    """raise_on_error with fail_fast raises the failure that stopped the batch, not a cancellation."""
    handler = make_handler([1.0, 1.0, 0.5, 1.0], frozenset({2}))
    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        with pytest.raises(KeyError):
            await client.batch_request(
                [(i, NO_OPTIONS) for i in range(4)], fail_fast=True, raise_on_error=True
            )


async def test_without_fail_fast_failures_do_not_stop() -> None:
    """The default keeps going after a failure: every other item runs."""
    handler = make_handler([0.0] * 5, frozenset({0}))
    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        results = await client.batch_request([(i, NO_OPTIONS) for i in range(5)], max_concurrency=1)
    assert isinstance(results[0], KeyError)
    assert [1, 2, 3, 4] == results[1:]


async def test_generator_and_async_input() -> None:
    """batch_request accepts generators and async iterables and returns results in input order."""

    async def agen() -> AsyncIterator[tuple[int, dict[str, Any]]]:
        for i in range(20):
            yield i, NO_OPTIONS

    handler = make_handler([0.0] * 20, frozenset())
    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        assert list(range(20)) == await client.batch_request((i, NO_OPTIONS) for i in range(20))
        assert list(range(20)) == await client.batch_request(agen())


async def test_input_error_sends_nothing() -> None:
    """An iterator that raises gives BatchInputError before any request is sent."""
    sent: list[int] = []

    def broken() -> Iterator[tuple[int, dict[str, Any]]]:
        yield 0, NO_OPTIONS
        raise ValueError("bad row")

    async with pynector.Pynector(transport_type="memory", handler=lambda d, **o: sent.append(d)) as client:
        with pytest.raises(pynector.BatchInputError, match=r"item 1.*ValueError: bad row") as info:
            await client.batch_request(broken())
    assert isinstance(info.value.__cause__, ValueError)
    assert [] == sent


async def test_timeout_slots_never_started(autojump_clock: trio.testing.MockClock) -> None:
    """With a list input, slots never started when the batch deadline passes hold TimeoutError."""
    handler = make_handler([1.0] * 6, frozenset())
    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        results = await client.batch_request(
            [(i, NO_OPTIONS) for i in range(6)], max_concurrency=2, timeout=1.5
        )
    assert [0, 1] == results[:2]
    assert all(isinstance(r, pynector.TimeoutError) for r in results[2:])


async def test_outer_cancel_leaves_no_task(autojump_clock: trio.testing.MockClock) -> None:
    """Cancelling batch_request from outside cancels every worker; nothing is left running."""
    handler = make_handler([10.0] * 50, frozenset())
    baseline = trio.lowlevel.current_statistics().tasks_living
    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        with trio.move_on_after(1) as scope:
            await client.batch_request([(i, NO_OPTIONS) for i in range(50)], max_concurrency=8)
    assert scope.cancelled_caught
    assert baseline == trio.lowlevel.current_statistics().tasks_living


async def test_ordered_stream_fail_fast(autojump_clock: trio.testing.MockClock) -> None:
    """An ordered stream with fail_fast yields every pulled index in order, cancelled ones included."""
    handler = make_handler([2.0, 2.0, 0.5, 2.0, 2.0], frozenset({2}))
    async with (
        pynector.Pynector(transport_type="memory", handler=handler) as client,
        client.stream_batch(
            [(i, NO_OPTIONS) for i in range(5)], max_concurrency=3, ordered=True, fail_fast=True
        ) as results,
    ):
        got = [(index, type(result).__name__) async for index, result in results]
    assert [(0, "BatchCancelledError"), (1, "BatchCancelledError"), (2, "KeyError")] == got


async def test_empty_stream_ends() -> None:
    """An empty input gives an empty stream."""
    async with (
        pynector.Pynector(transport_type="memory", handler=make_handler([], frozenset())) as client,
        client.stream_batch([]) as results,
    ):
        assert [] == [pair async for pair in results]
