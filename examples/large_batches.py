"""Large and endless batches: streaming results, lazy input, rate limits, fail-fast and a retry budget.

Runs offline: every request goes to an in-process memory transport. ``python examples/large_batches.py``
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import trio

import pynector


def square(data: int, **options: Any) -> int:
    """The 'service': squares numbers, refuses 13."""
    if data == 13:
        raise ConnectionRefusedError("13 is unlucky")
    return data * data


async def endless_queue() -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """An endless async source, read only as fast as the workers take items."""
    for number in itertools.count():
        await trio.lowlevel.checkpoint()
        yield number, {}


async def main() -> None:
    async with pynector.Pynector(transport_type="memory", handler=square) as client:
        # 1. Results in completion order from an endless input; leaving the loop stops everything.
        total = 0
        async with client.stream_batch(endless_queue(), max_concurrency=50) as results:
            async for index, result in results:
                if isinstance(result, Exception):
                    print(f"item {index} failed: {result}")
                    continue
                total += result
                if index >= 10_000:
                    break
        print(f"read {results.pulled} items, yielded {results.yielded}")

        # 2. Input order, 200 requests per second with bursts of 20, a 5 s deadline for the stream.
        requests = ((n, {}) for n in range(40))
        started = trio.current_time()
        async with client.stream_batch(
            requests, max_concurrency=10, ordered=True, max_per_second=200, burst=20, timeout=5
        ) as results:
            in_order = [index async for index, _ in results]
        assert list(range(40)) == in_order
        print(f"40 ordered results in {trio.current_time() - started:.2f}s at 200/s, burst 20")

        # 3. fail_fast: the first failure stops the batch; every other slot is accounted for.
        slots = await client.batch_request(
            [(n, {}) for n in range(10, 20)], max_concurrency=1, fail_fast=True
        )
        print([type(slot).__name__ if isinstance(slot, Exception) else slot for slot in slots])

        # 4. A retry budget shared by a whole batch keeps a failing service from seeing N x retries.
        budget = pynector.RetryBudget(max_tokens=10)
        policy = pynector.RetryPolicy(max_retries=3, initial_delay=0.01, budget=budget)
        await client.batch_request([(13, {})] * 20, retry=policy)
        print(budget.statistics())


if __name__ == "__main__":
    trio.run(main)
