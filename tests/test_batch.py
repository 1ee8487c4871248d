"""batch_request: order, concurrency bound, deadline filling, errors, and resource use."""

from __future__ import annotations

import heapq
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Any

import pytest
import trio
import trio.testing
from helpers.fakes import CountingTransport
from hypothesis import given
from hypothesis import strategies as st

import pynector
from pynector import ConfigurationError, Pynector


@dataclass(frozen=True)
class Item:
    kind: str  # "ok" | "none" | "fail"
    delay: int  # virtual seconds


class Boom(Exception):
    """An application failure raised by the handler."""


class ScriptedTransport:
    """Runs each Item: sleeps its delay on trio's clock, then returns or raises; tracks concurrency."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def exchange(self, data: tuple[int, Item], **options: Any) -> Any:
        index, item = data
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await trio.sleep(item.delay)
        finally:
            self.in_flight -= 1
        if item.kind == "fail":
            raise Boom(f"item {index} failed")
        if item.kind == "none":
            return None
        return ("done", index)


def finish_times(items: list[Item], concurrency: int) -> list[float]:
    """When each item finishes under list scheduling with `concurrency` workers pulling in order."""
    free = [0.0] * min(concurrency, len(items))
    heapq.heapify(free)
    done: list[float] = []
    for item in items:
        start = heapq.heappop(free)
        end = start + item.delay
        done.append(end)
        heapq.heappush(free, end)
    return done


items_strategy = st.lists(
    st.builds(Item, st.sampled_from(["ok", "none", "fail"]), st.integers(0, 5)), max_size=300
)


@given(
    items=items_strategy,
    concurrency=st.integers(1, 64),
    deadline=st.none() | st.integers(0, 30).map(lambda k: k + 0.5),
    raise_on_error=st.booleans(),
)
def test_batch_properties(
    items: list[Item], concurrency: int, deadline: float | None, raise_on_error: bool
) -> None:
    """Length and order kept, each slot right, bound held, exactly the unfinished slots time out."""

    async def main() -> None:
        transport = ScriptedTransport()
        requests = [((i, item), {}) for i, item in enumerate(items)]
        before = trio.lowlevel.current_statistics().tasks_living
        async with Pynector(transport=transport) as client:
            expected: list[Any] = []
            ends = finish_times(items, concurrency)
            for i, (item, end) in enumerate(zip(items, ends, strict=True)):
                if deadline is not None and end > deadline:
                    expected.append(("timeout", i))
                elif item.kind == "fail":
                    expected.append(("fail", i))
                elif item.kind == "none":
                    expected.append(None)
                else:
                    expected.append(("done", i))
            first_failure = next((e for e in expected if e is not None and e[0] != "done"), None)
            if raise_on_error and first_failure is not None:
                with pytest.raises(Exception) as info:  # noqa: PT011 - the class is checked below
                    await client.batch_request(
                        requests,
                        max_concurrency=concurrency,
                        timeout=deadline,
                        raise_on_error=True,
                    )
                kind, index = first_failure
                if kind == "fail":
                    assert isinstance(info.value, Boom)
                    assert f"item {index} failed" == str(info.value)
                else:
                    assert isinstance(info.value, pynector.TimeoutError)
                    assert f"item {index} " in str(info.value)
            else:
                results = await client.batch_request(
                    requests, max_concurrency=concurrency, timeout=deadline, raise_on_error=raise_on_error
                )
                observed: list[Any] = []
                for i, slot in enumerate(results):
                    if isinstance(slot, pynector.TimeoutError):
                        assert f"item {i} " in str(slot)
                        observed.append(("timeout", i))
                    elif isinstance(slot, Boom):
                        assert f"item {i} failed" == str(slot)
                        observed.append(("fail", i))
                    else:
                        observed.append(slot)
                assert expected == observed
            assert transport.peak <= concurrency
            if items and all(item.delay > 0 for item in items) and deadline is None:
                assert min(concurrency, len(items)) == transport.peak
        assert before == trio.lowlevel.current_statistics().tasks_living

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_empty_batch_returns_empty_list() -> None:
    """An empty batch is an empty list, without touching the transport."""
    async with Pynector(transport=CountingTransport()) as client:
        assert await client.batch_request([]) == []


async def test_per_item_options_override_shared_ones() -> None:
    """Each pair's options win over the shared **options; both reach the transport."""
    seen: list[dict[str, Any]] = []

    def handler(data: Any, **options: Any) -> Any:
        seen.append(dict(options))
        return data

    async with Pynector(transport_type="memory", handler=handler) as client:
        results = await client.batch_request(
            [(1, {}), (2, {"colour": "blue"})], max_concurrency=1, colour="red", size="L"
        )
    assert results == [1, 2]
    assert seen == [{"colour": "red", "size": "L"}, {"colour": "blue", "size": "L"}]


async def test_per_item_timeout_is_that_items_request_timeout(autojump_clock: trio.abc.Clock) -> None:
    """A per-item timeout bounds only that item; the slot holds a TimeoutError."""
    async with Pynector(transport=CountingTransport()) as client:
        results = await client.batch_request([(1, {"delay": 5, "timeout": 1}), (2, {"delay": 5})])
    assert isinstance(results[0], pynector.TimeoutError)
    assert "timed out after 1s" in str(results[0])
    assert results[1] == 2


@pytest.mark.parametrize("bare", [1, (1,), (1, 2, 3), (1, "options"), [1, {}], {"url": "/x"}])
async def test_bare_items_are_data_without_options(bare: object) -> None:
    """An item that is not a two-tuple ending in a mapping is bare data, sent with no options."""
    seen: list[tuple[Any, dict[str, Any]]] = []

    async def handler(data: Any, **options: Any) -> Any:
        seen.append((data, options))
        return data

    async with Pynector(transport_type="memory", handler=handler) as client:
        results = await client.batch_request([(0, {"tag": 1}), bare])  # type: ignore[list-item]
    assert [0, bare] == results
    assert [(0, {"tag": 1}), (bare, {})] == seen


async def test_malformed_item_timeout_is_configuration_error() -> None:
    """A pair whose per-item timeout is invalid fails the batch before anything runs."""
    transport = CountingTransport()
    async with Pynector(transport=transport) as client:
        with pytest.raises(ConfigurationError, match="timeout of batch item 1"):
            await client.batch_request([(0, {}), (1, {"timeout": -1})])
    assert transport.peak == 0


async def test_batch_timeout_keeps_finished_results(autojump_clock: trio.abc.Clock) -> None:
    """At the batch deadline, finished slots (even None) keep their results."""

    async def handler(data: Any, **options: Any) -> Any:
        await trio.sleep(data)
        return None if data == 1 else data

    async with Pynector(transport_type="memory", handler=handler) as client:
        start = trio.current_time()
        results = await client.batch_request([(1, {}), (2, {}), (10, {})], timeout=5)
        assert trio.current_time() - start == 5
    assert results[:2] == [None, 2]
    assert isinstance(results[2], pynector.TimeoutError)
    assert str(results[2]) == "batch timeout of 5s expired before item 2 finished"


async def test_keyboard_interrupt_in_a_batch_is_not_wrapped_in_a_group() -> None:
    """A KeyboardInterrupt inside a worker leaves the batch as itself, not as an ExceptionGroup."""

    def handler(data: Any, **options: Any) -> Any:
        if data == 3:
            raise KeyboardInterrupt
        return data

    before = trio.lowlevel.current_statistics().tasks_living
    async with Pynector(transport_type="memory", handler=handler) as client:
        with pytest.raises(KeyboardInterrupt):
            await client.batch_request([(i, {}) for i in range(10)], max_concurrency=4)
    assert before == trio.lowlevel.current_statistics().tasks_living


async def test_outer_cancellation_stops_the_batch_and_leaves_no_task(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Cancelling the caller cancels every worker; no group escapes, no task is left."""
    transport = CountingTransport(delay=100)
    before = trio.lowlevel.current_statistics().tasks_living
    async with Pynector(transport=transport) as client:
        with trio.move_on_after(1) as scope:
            await client.batch_request([(i, {}) for i in range(50)], max_concurrency=10)
    assert scope.cancelled_caught
    assert transport.in_flight == 0
    assert before == trio.lowlevel.current_statistics().tasks_living


async def test_batch_uses_a_worker_pool_not_a_task_per_item() -> None:
    """At most max_concurrency worker tasks exist, whatever the batch size."""
    peak_tasks = 0

    def handler(data: Any, **options: Any) -> Any:
        nonlocal peak_tasks
        peak_tasks = max(peak_tasks, trio.lowlevel.current_statistics().tasks_living)
        return data

    before = trio.lowlevel.current_statistics().tasks_living
    async with Pynector(transport_type="memory", handler=handler) as client:
        results = await client.batch_request([(i, {}) for i in range(5000)], max_concurrency=8)
    assert list(range(5000)) == results
    assert before + 8 == peak_tasks


@pytest.mark.slow
def test_million_item_batch_stays_well_under_a_gibibyte() -> None:
    """A 1,000,000-item batch through the memory transport peaks far below 1 GiB of RSS."""
    code = textwrap.dedent(
        """
        import resource, trio, pynector
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        async def main():
            async with pynector.Pynector(transport_type="memory", handler=lambda d, **o: d) as c:
                requests = [(i, {}) for i in range(1_000_000)]
                results = await c.batch_request(requests, max_concurrency=64)
                assert results[-1] == 999_999 and len(results) == 1_000_000
        trio.run(main)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(base, peak)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    base_kib, peak_kib = map(int, out.stdout.split())
    assert peak_kib < 1024 * 1024 / 4, f"peak RSS {peak_kib} KiB"  # under 256 MiB, incl. the input
    assert peak_kib - base_kib < 200 * 1024
