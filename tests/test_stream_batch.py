"""The streaming batch: lazy input, results as they finish, bounded memory, clean exits."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import pynector

NO_OPTIONS: dict[str, Any] = {}


class Instrumented:
    """A memory-transport handler that records concurrency: sleeps ``delays[i]``, fails ``failing``."""

    def __init__(self, delays: list[float] | None = None, failing: frozenset[int] = frozenset()) -> None:
        self.delays = delays
        self.failing = failing
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: list[int] = []

    async def __call__(self, data: int, **options: Any) -> int:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.started.append(data)
        try:
            if self.delays is not None:
                await trio.sleep(self.delays[data])
            if data in self.failing:
                raise KeyError(data)
            return data * 2
        finally:
            self.in_flight -= 1


def pairs(n: int) -> Iterator[tuple[int, dict[str, Any]]]:
    return ((i, NO_OPTIONS) for i in range(n))


async def apairs(n: int) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    for i in range(n):
        await trio.lowlevel.checkpoint()
        yield i, NO_OPTIONS


def tasks_living() -> int:
    return trio.lowlevel.current_statistics().tasks_living


async def consume(
    client: pynector.Pynector, source: Any, seen: list[int] | None = None, **kwargs: Any
) -> None:
    """Iterate a whole stream_batch, recording the indexes in *seen*."""
    async with client.stream_batch(source, **kwargs) as results:
        async for index, _ in results:
            if seen is not None:
                seen.append(index)


@given(
    n=st.integers(0, 120),
    concurrency=st.integers(1, 12),
    ordered=st.booleans(),
    async_input=st.booleans(),
    delays=st.lists(st.sampled_from([0.0, 0.01, 0.1, 1.0]), min_size=120, max_size=120),
    failing=st.frozensets(st.integers(0, 119), max_size=10),
)
def test_every_index_once_with_its_own_result(
    n: int, concurrency: int, ordered: bool, async_input: bool, delays: list[float], failing: frozenset[int]
) -> None:
    """Every index is yielded once with its own result; the bound holds; ordered means input order."""

    async def main() -> None:
        handler = Instrumented(delays, failing)
        baseline = tasks_living()
        seen: list[int] = []
        async with pynector.Pynector(transport_type="memory", handler=handler) as client:
            source = apairs(n) if async_input else pairs(n)
            async with client.stream_batch(source, max_concurrency=concurrency, ordered=ordered) as results:
                async for index, result in results:
                    seen.append(index)
                    if index in failing:
                        assert isinstance(result, KeyError)
                        assert (index,) == result.args
                    else:
                        assert index * 2 == result
                    assert results.pulled - results.yielded <= 3 * concurrency
        assert list(range(n)) == sorted(seen)
        if ordered:
            assert list(range(n)) == seen
        assert handler.max_in_flight <= concurrency
        assert baseline == tasks_living()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@given(
    stop_after=st.integers(0, 60),
    concurrency=st.integers(1, 12),
    ordered=st.booleans(),
    async_input=st.booleans(),
)
def test_early_exit_leaves_no_task(
    stop_after: int, concurrency: int, ordered: bool, async_input: bool
) -> None:
    """Breaking out of an endless stream cancels the work: no task alive after the block."""

    async def endless_async() -> AsyncIterator[tuple[int, dict[str, Any]]]:
        for i in itertools.count():
            yield i, NO_OPTIONS

    async def main() -> None:
        handler = Instrumented([0.5] * 10_000)
        baseline = tasks_living()
        async with pynector.Pynector(transport_type="memory", handler=handler) as client:
            source = endless_async() if async_input else ((i, NO_OPTIONS) for i in itertools.count())
            got = 0
            async with client.stream_batch(source, max_concurrency=concurrency, ordered=ordered) as results:
                async for _ in results:
                    if got == stop_after:
                        break
                    got += 1
                pulled = results.pulled
            assert pulled <= stop_after + 1 + 3 * concurrency
            assert baseline == tasks_living()
            assert 0 == handler.in_flight

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_ordered_window_is_backpressure(autojump_clock: trio.testing.MockClock) -> None:
    """A slow head item stops the ordered stream from pulling beyond its reorder window."""
    delays = [100.0] + [0.001] * 999
    handler = Instrumented(delays)
    async with (
        pynector.Pynector(transport_type="memory", handler=handler) as client,
        client.stream_batch(pairs(1000), max_concurrency=4, ordered=True) as results,
    ):
        await trio.sleep(50)
        assert 2 * 4 == results.pulled
        assert 0 == results.yielded
        assert [0, 1, 2, 3, 4, 5, 6, 7] == [index async for index, _ in results][:8]


async def test_slow_consumer_bounds_buffer(autojump_clock: trio.testing.MockClock) -> None:
    """A consumer that does not read stops the workers: the input is not read ahead without bound."""
    async with (
        pynector.Pynector(transport_type="memory", handler=Instrumented()) as client,
        client.stream_batch(pairs(10_000), max_concurrency=8) as results,
    ):
        await trio.sleep(10)
        assert 3 * 8 == results.pulled
        assert 10_000 == len([pair async for pair in results])


async def test_timeout_bounds_whole_stream(autojump_clock: trio.testing.MockClock) -> None:
    """At the batch deadline, items in flight are yielded as TimeoutError; unread items are not."""
    handler = Instrumented([1.0] * 10)
    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        start = trio.current_time()
        async with client.stream_batch(pairs(10), max_concurrency=2, timeout=1.5) as results:
            got = {index: result async for index, result in results}
        assert 1.5 == trio.current_time() - start
    assert {0: 0, 1: 2} == {i: r for i, r in got.items() if not isinstance(r, Exception)}
    assert [2, 3] == sorted(i for i, r in got.items() if isinstance(r, pynector.TimeoutError))
    assert "batch timeout of 1.5s" in str(got[2])


async def test_fail_fast_accounts_for_in_flight(autojump_clock: trio.testing.MockClock) -> None:
    """fail_fast: the failure is yielded, items in flight get BatchCancelledError, nothing more is read."""
    delays = [1.0, 1.0, 0.5, 1.0] + [1.0] * 6
    handler = Instrumented(delays, failing=frozenset({2}))
    source = pairs(10)
    async with (
        pynector.Pynector(transport_type="memory", handler=handler) as client,
        client.stream_batch(source, max_concurrency=4, fail_fast=True) as results,
    ):
        got = {index: result async for index, result in results}
    assert [0, 1, 2, 3] == sorted(got)
    assert isinstance(got[2], KeyError)
    for index in (0, 1, 3):
        assert isinstance(got[index], pynector.BatchCancelledError)
        assert got[2] is got[index].__cause__
        assert "fail_fast after item 2 failed" in str(got[index])
    assert (4, NO_OPTIONS) == next(source)


async def test_iterator_error_is_batch_input_error() -> None:
    """An exception from the user's iterator ends the stream with BatchInputError, not a group."""

    def broken() -> Iterator[tuple[int, dict[str, Any]]]:
        yield from pairs(3)
        raise OSError("disk gone")

    baseline = tasks_living()
    seen: list[int] = []
    async with pynector.Pynector(transport_type="memory", handler=Instrumented()) as client:
        with pytest.raises(pynector.BatchInputError, match="disk gone") as info:
            await consume(client, broken(), seen, max_concurrency=2)
    assert isinstance(info.value.__cause__, OSError)
    assert [0, 1, 2] == sorted(seen)
    assert baseline == tasks_living()


async def test_async_iterator_error_is_batch_input_error() -> None:
    """An exception from the user's async iterator surfaces as BatchInputError with the cause."""

    async def broken() -> AsyncIterator[tuple[int, dict[str, Any]]]:
        yield 0, NO_OPTIONS
        raise LookupError("queue closed")

    async with pynector.Pynector(transport_type="memory", handler=Instrumented()) as client:
        with pytest.raises(pynector.BatchInputError, match=r"item 1.*queue closed") as info:
            await consume(client, broken())
    assert isinstance(info.value.__cause__, LookupError)


async def test_malformed_pair_is_configuration_error() -> None:
    """A pair with an invalid timeout, read lazily, raises ConfigurationError from the loop."""
    source = iter([(1, NO_OPTIONS), (2, {"timeout": "soon"})])
    async with pynector.Pynector(transport_type="memory", handler=Instrumented()) as client:
        with pytest.raises(pynector.ConfigurationError, match="timeout of batch item 1"):
            await consume(client, source)


async def test_non_iterable_requests_rejected() -> None:
    """Passing something that is not iterable fails on entering the block."""
    async with pynector.Pynector(transport_type="memory", handler=Instrumented()) as client:
        with pytest.raises(pynector.ConfigurationError, match="iterable"):
            async with client.stream_batch(42):  # type: ignore[arg-type]
                pass  # pragma: no cover


async def test_body_exception_propagates_as_itself() -> None:
    """An exception raised in the block reaches the caller unwrapped, with its own cause kept."""

    async def buggy_consumer(client: pynector.Pynector) -> None:
        async with client.stream_batch(pairs(100), max_concurrency=4):
            try:
                raise KeyError("root")
            except KeyError as exc:
                raise RuntimeError("consumer bug") from exc

    baseline = tasks_living()
    async with pynector.Pynector(transport_type="memory", handler=Instrumented([1.0] * 100)) as client:
        with pytest.raises(RuntimeError, match="consumer bug") as info:
            await buggy_consumer(client)
    assert isinstance(info.value.__cause__, KeyError)
    assert baseline == tasks_living()


async def test_outer_cancellation_cleans_up(autojump_clock: trio.testing.MockClock) -> None:
    """Cancelling the block from outside cancels the work and leaves nothing running."""
    handler = Instrumented([10.0] * 100)
    baseline = tasks_living()
    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        with trio.move_on_after(5) as scope:
            async with client.stream_batch(pairs(100), max_concurrency=4) as results:
                async for _ in results:
                    pass  # pragma: no cover
        assert scope.cancelled_caught
    assert 0 == handler.in_flight
    assert baseline == tasks_living()


async def test_per_item_options_and_timeout(autojump_clock: trio.testing.MockClock) -> None:
    """Per-item options override shared ones, and a per-item timeout bounds that item alone."""

    async def handler(data: int, **options: Any) -> tuple[int, Any]:
        await trio.sleep(data)
        return data, options.get("tag")

    requests = [(1, {"tag": "own"}), (5, {"timeout": 2}), (3, {})]
    async with (
        pynector.Pynector(transport_type="memory", handler=handler) as client,
        client.stream_batch(requests, ordered=True, tag="shared") as results,
    ):
        got = [result async for _, result in results]
    assert (1, "own") == got[0]
    assert isinstance(got[1], pynector.TimeoutError)
    assert (3, "shared") == got[2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"timeout": -1}, "batch timeout"),
        ({"ordered": "yes"}, "ordered"),
        ({"fail_fast": 1}, "fail_fast"),
        ({"max_per_second": 0}, "max_per_second"),
        ({"max_per_second": 5, "burst": 0}, "burst"),
        ({"rate_key": "host"}, "rate_key"),
        ({"retry": 3}, "retry"),
    ],
)
async def test_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    """Invalid stream_batch arguments raise ConfigurationError naming the argument."""
    async with pynector.Pynector(transport_type="memory", handler=Instrumented()) as client:
        with pytest.raises(pynector.ConfigurationError, match=message):
            async with client.stream_batch(pairs(1), **kwargs):
                pass  # pragma: no cover


async def test_results_after_block_are_finished() -> None:
    """Iterating the results after the block ends yields nothing more (the stream is closed)."""
    async with pynector.Pynector(transport_type="memory", handler=Instrumented()) as client:
        async with client.stream_batch(pairs(5)) as results:
            pass
        assert [] == [pair async for pair in results]
