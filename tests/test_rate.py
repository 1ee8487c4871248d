"""Rate limiting: the GCRA token bucket is exact on trio's clock and composes with the batch bounds."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import pynector
from pynector._rate import RateLimiter

NO_OPTIONS: dict[str, Any] = {}
EPS = 1e-9


def expected_starts(n: int, rate: float, burst: int) -> list[float]:
    """The first *burst* calls start at 0, then one every 1/rate."""
    return [max(0, k - burst + 1) / rate for k in range(n)]


def max_in_window(starts: list[float], width: float) -> int:
    """The most starts inside any closed window [t, t + width] (windows begin at a start)."""
    ordered = sorted(starts)
    best = 0
    for i, begin in enumerate(ordered):
        best = max(best, sum(1 for t in ordered[i:] if t <= begin + width + EPS))
    return best


@given(
    n=st.integers(1, 40),
    rate=st.sampled_from([0.5, 1.0, 3.0, 10.0, 250.0]),
    burst=st.integers(1, 8),
)
def test_bucket_exact_times_and_window(n: int, rate: float, burst: int) -> None:
    """N calls at R/s with burst B start exactly on schedule and never exceed B + floor(w*R) per window."""

    async def main() -> list[float]:
        limiter = RateLimiter(rate, burst)
        starts: list[float] = []

        async def call() -> None:
            await limiter.acquire()
            starts.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(call)
        return starts

    starts = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert expected_starts(n, rate, burst) == pytest.approx(sorted(starts), abs=EPS)
    assert max(0, n - burst) / rate == pytest.approx(max(starts), abs=EPS)
    for width in (0.0, 0.5 / rate, 1 / rate, 2.5 / rate, 7 / rate, 1.0):
        assert max_in_window(starts, width) <= burst + math.floor(width * rate + EPS)


async def test_stream_batch_rate_exact(autojump_clock: trio.testing.MockClock) -> None:
    """A streaming batch of 25 items at 10/s with burst 5 takes exactly 2 s of trio time."""
    starts: list[float] = []

    def handler(data: int, **options: Any) -> int:
        starts.append(trio.current_time())
        return data

    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        begin = trio.current_time()
        async with client.stream_batch(
            ((i, NO_OPTIONS) for i in range(25)), max_concurrency=50, max_per_second=10, burst=5
        ) as results:
            assert 25 == len([pair async for pair in results])
        assert 2.0 == pytest.approx(trio.current_time() - begin, abs=EPS)
    assert expected_starts(25, 10, 5) == pytest.approx([t - begin for t in starts], abs=EPS)


async def test_rate_composes_with_concurrency(autojump_clock: trio.testing.MockClock) -> None:
    """The slower bound wins: 2 workers on 1 s items at 100/s take n/2 s (+0.01 s: burst 1 spaces them)."""

    async def handler(data: int, **options: Any) -> int:
        await trio.sleep(1)
        return data

    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        begin = trio.current_time()
        await client.batch_request(
            [(i, NO_OPTIONS) for i in range(10)], max_concurrency=2, max_per_second=100
        )
        assert 5.01 == pytest.approx(trio.current_time() - begin, abs=1e-6)


async def test_client_wide_rate_from_config(autojump_clock: trio.testing.MockClock) -> None:
    """config={'max_per_second': 10, 'burst': 2} limits every request of the client."""
    config = {"max_per_second": 10, "burst": 2}
    async with pynector.Pynector(transport_type="memory", handler=lambda d, **o: d, config=config) as client:
        begin = trio.current_time()
        for i in range(12):
            assert i == await client.request(i)
        assert 1.0 == pytest.approx(trio.current_time() - begin, abs=EPS)


async def test_client_and_batch_limits_compose(autojump_clock: trio.testing.MockClock) -> None:
    """A batch limit stricter than the client's (5/s under 10/s) sets the pace."""
    config = {"max_per_second": 10}
    async with pynector.Pynector(transport_type="memory", handler=lambda d, **o: d, config=config) as client:
        begin = trio.current_time()
        await client.batch_request([(i, NO_OPTIONS) for i in range(11)], max_per_second=5)
        assert 2.0 == pytest.approx(trio.current_time() - begin, abs=EPS)


async def test_rate_key_gives_one_bucket_per_key(autojump_clock: trio.testing.MockClock) -> None:
    """With rate_key, each key (host) has its own bucket: two hosts run at twice the rate."""
    starts: dict[str, list[float]] = {"a": [], "b": []}

    def handler(data: tuple[str, int], **options: Any) -> None:
        starts[data[0]].append(trio.current_time())

    requests = [((host, i), NO_OPTIONS) for i in range(5) for host in "ab"]
    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        begin = trio.current_time()
        await client.batch_request(requests, max_per_second=1, rate_key=lambda data, options: data[0])
        assert 4.0 == pytest.approx(trio.current_time() - begin, abs=EPS)
    assert [0.0, 1.0, 2.0, 3.0, 4.0] == pytest.approx([t - begin for t in starts["a"]], abs=EPS)


async def test_cancelled_waiter_gives_slot_back(autojump_clock: trio.testing.MockClock) -> None:
    """A call cancelled while waiting returns its reservation: the next caller takes that slot."""
    limiter = RateLimiter(1)
    await limiter.acquire()
    with trio.move_on_after(0.5):
        await limiter.acquire()
    begin = trio.current_time()
    await limiter.acquire()
    assert 0.5 == pytest.approx(trio.current_time() - begin, abs=EPS)


async def test_idle_keys_are_pruned(autojump_clock: trio.testing.MockClock) -> None:
    """Buckets of idle keys are dropped, so an endless batch over many hosts keeps bounded memory."""
    limiter = RateLimiter(1000, burst=1)
    for key in range(5000):
        await limiter.acquire(key)
        await trio.sleep(0.01)
    assert len(limiter._buckets) <= 1025


@pytest.mark.parametrize(
    ("rate", "burst"), [(0, 1), (-1, 1), (math.inf, 1), (math.nan, 1), (True, 1), (1, 0), (1, 1.5), (None, 1)]
)
def test_invalid_limiter(rate: Any, burst: Any) -> None:
    """Non-positive, infinite, NaN or bool rates and bursts below 1 are configuration errors."""
    with pytest.raises(pynector.ConfigurationError):
        RateLimiter(rate, burst)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PYNECTOR_MAX_PER_SECOND": "2.5", "PYNECTOR_BURST": "4"}, (2.5, 4)),
        ({"PYNECTOR_MAX_PER_SECOND": "none"}, (None, 1)),
    ],
)
def test_rate_config_from_environment(environ: dict[str, str], expected: tuple[Any, int]) -> None:
    """max_per_second and burst follow the usual precedence and parse from the environment."""
    from pynector._config import resolve_config

    config = resolve_config({}, None, environ)
    assert expected == (config.max_per_second, config.burst)
    assert 7.0 == resolve_config({}, {"max_per_second": 7}, environ).max_per_second


def test_invalid_rate_config() -> None:
    """An invalid client-wide rate is rejected when the client is constructed."""
    with pytest.raises(pynector.ConfigurationError, match="max_per_second"):
        pynector.Pynector(transport_type="memory", handler=print, config={"max_per_second": -3})
