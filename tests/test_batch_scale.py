"""Scale: the streaming batch holds O(max_concurrency) memory whatever the input length."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pynector

NO_OPTIONS: dict[str, Any] = {}
LIMIT = 64 * 2**20


def rss_bytes() -> int:
    """The process's current resident set size (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


async def stream_count(n: int, sample: Callable[[], None] | None = None) -> int:
    """Stream *n* no-op items through the memory transport; return how many results came back."""
    count = 0
    async with (
        pynector.Pynector(transport_type="memory", handler=lambda data, **options: data) as client,
        client.stream_batch(((i, NO_OPTIONS) for i in range(n)), max_concurrency=100) as results,
    ):
        async for index, _result in results:
            count += 1
            if sample is not None and not index % 100_000:
                sample()
    return count


async def traced_peak(n: int) -> tuple[int, float]:
    """Peak traced memory above the baseline while streaming *n* items, and the items/s."""
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        started = time.perf_counter()
        assert n == await stream_count(n)
        elapsed = time.perf_counter() - started
        return tracemalloc.get_traced_memory()[1] - baseline, n / elapsed
    finally:
        tracemalloc.stop()


def record(request: pytest.FixtureRequest, **figures: float) -> None:
    """Keep the measured figures on the test report (``-rP`` prints them, junitxml stores them)."""
    request.node.user_properties.extend(figures.items())
    print(", ".join(f"{name}={value:,.0f}" for name, value in figures.items()))


async def test_hundred_thousand_items_bounded_memory(request: pytest.FixtureRequest) -> None:
    """100,000 items stream through with a traced peak far under 64 MiB (a list would hold them all)."""
    peak, rate = await traced_peak(100_000)
    record(request, peak_bytes=peak, items_per_second_traced=rate)
    assert peak < 4 * 2**20


@pytest.mark.slow
async def test_million_items_bounded_memory(request: pytest.FixtureRequest) -> None:
    """1,000,000 items: traced peak under 64 MiB above baseline (takes ~90 s under tracemalloc)."""
    peak, rate = await traced_peak(1_000_000)
    record(request, peak_bytes=peak, items_per_second_traced=rate)
    assert peak < LIMIT


@pytest.mark.slow
async def test_ten_million_items_bounded_rss(request: pytest.FixtureRequest) -> None:
    """10,000,000 items: resident memory, sampled every 100,000 results, grows by under 64 MiB.

    tracemalloc would slow this run about tenfold (~15 min), so RSS is sampled instead.
    """
    baseline = rss_bytes()
    peak = baseline

    def sample() -> None:
        nonlocal peak
        peak = max(peak, rss_bytes())

    started = time.perf_counter()
    assert 10_000_000 == await stream_count(10_000_000, sample)
    rate = 10_000_000 / (time.perf_counter() - started)
    record(request, rss_growth_bytes=peak - baseline, items_per_second=rate)
    assert peak - baseline < LIMIT
