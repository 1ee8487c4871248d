"""The learning quota: pauses per key, pacing from headers and from 429s, tokens, concurrency."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import trio
import trio.testing
from helpers.bench import load_benchmark
from hypothesis import given, settings
from hypothesis import strategies as st

from pynector import ConfigurationError, Pynector, Quota, RateLimitError
from pynector.testing import QuotaService, capture_logs, capture_spans, open_http_server

# The quota benchmark's trial requests, retry policy and token cost, shared with these tests.
_bench = load_benchmark("quota_bench")
RETRY = _bench.RETRY
prompt_request = _bench.prompt_request
prompt_cost = _bench.prompt_cost


def reported_usage(response: Any) -> float:
    """The tokens the service says it used."""
    return float(response.json()["usage"]["total_tokens"])


class Throttling:
    """A callable transport's fn: answers 429 (Retry-After *pause*) to call number *refuse*."""

    def __init__(self, refuse: int, pause: float) -> None:
        self.refuse = refuse
        self.pause = pause
        self.starts: list[float] = []

    async def __call__(self, data: Any, **options: Any) -> Any:
        self.starts.append(trio.current_time())
        if len(self.starts) == self.refuse:
            raise RateLimitError("slow down", status_code=429, retry_after=self.pause)
        await trio.sleep(0.01)
        return data


async def test_a_429_pauses_every_worker_of_every_batch_then_ramps_up(autojump_clock: trio.abc.Clock) -> None:
    """One 429 with Retry-After 10 holds back both batches' workers; afterwards they leave one by one."""
    fn = Throttling(refuse=5, pause=10.0)
    quota = Quota(requests_per_minute=600, headroom=0.0)  # 10/s: one start every 0.1 s
    async with (
        Pynector(transport_type="callable", fn=fn, rate_limit=quota) as client,
        trio.open_nursery() as nursery,
    ):
        for _ in range(2):
            nursery.start_soon(
                lambda: client.batch_request([(i, {}) for i in range(10)], max_concurrency=8, retry=RETRY)
            )
    refused_at = fn.starts[4]
    after = [t for t in fn.starts if t > refused_at]
    assert 21 == len(fn.starts)  # 20 requests and one retry
    assert all(t >= refused_at + 10.0 for t in after)  # nobody went during the pause
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert min(gaps) >= 0.1 - 1e-9  # no herd at the reset instant: spaced at the key's rate
    assert 1 == client.statistics().quota[0].pauses


async def test_headers_set_the_rate_before_any_429(autojump_clock: trio.abc.Clock) -> None:
    """An IETF RateLimit-Policy of 60/min is learned from the first answer: no 429, 57/min paced."""
    service = QuotaService(requests_per_minute=60, headers="ietf")
    with capture_logs() as logs:
        async with (
            open_http_server(service.handler) as server,
            Pynector(transport_type="http", base_url=server.url, rate_limit="auto") as client,
        ):
            start = trio.current_time()
            await client.batch_request([({"path": "/"}, {})] * 30, max_concurrency=4)
            elapsed = trio.current_time() - start
            (state,) = client.statistics().quota
    learned = [r["extra"] for r in logs if r["message"] == "pynector quota rate learned"]
    assert [("requests", pytest.approx(0.95), "headers")] == [
        (e["unit"], e["rate"], e["source"]) for e in learned
    ]
    assert 0 == service.refused
    assert ("headers", 0.95) == (state.source, pytest.approx(state.rate))
    assert 24 / 0.95 <= elapsed <= 29 / 0.95  # 30 requests, the first few before the rate was known


async def test_aimd_learns_from_429s_without_headers(autojump_clock: trio.abc.Clock) -> None:
    """Without headers, the first 429 sets the rate to what the service allowed over the cycle."""
    service = QuotaService(requests_per_minute=60, headers=None)
    async with (
        open_http_server(service.handler) as server,
        Pynector(transport_type="http", base_url=server.url) as client,
    ):
        results = await client.batch_request(
            [({"path": "/"}, {})] * 200, max_concurrency=8, retry=RETRY, rate_limit="auto"
        )
        (state,) = client.statistics().quota
    assert 200 == sum(1 for r in results if not isinstance(r, Exception))
    assert "learned" == state.source
    assert 0.8 < state.rate < 1.05  # 60 per minute
    assert service.refused <= 8 + 5  # the 8 in flight when the first 429 came, then a few per cycle


async def test_tokens_are_charged_before_and_settled_after(autojump_clock: trio.abc.Clock) -> None:
    """A token quota paces by charged tokens; the unused part of max_tokens is given back."""
    service = QuotaService(requests_per_minute=10_000, tokens_per_minute=6_000, headers=None)
    settled = Quota(tokens_per_minute=6_000, headroom=0.0, cost=prompt_cost, usage=reported_usage)
    unsettled = Quota(tokens_per_minute=6_000, headroom=0.0, cost=prompt_cost)
    elapsed = []
    async with open_http_server(service.handler) as server:
        for quota in (settled, unsettled):
            async with Pynector(transport_type="http", base_url=server.url, rate_limit=quota) as client:
                start = trio.current_time()
                await client.batch_request([prompt_request(i) for i in range(40)], max_concurrency=4)
                elapsed.append(trio.current_time() - start)
            await trio.sleep(60)  # an empty window for the next run
    assert 0 == service.refused
    assert elapsed[0] < 0.9 * elapsed[1]  # settling with the real usage is faster than the charge alone


async def test_adaptive_concurrency_halves_on_429_and_grows_back(autojump_clock: trio.abc.Clock) -> None:
    """The in-flight limit halves on a 429 and grows by 1/limit per success, up to max_concurrency."""
    fn = Throttling(refuse=3, pause=0.5)
    quota = Quota(adaptive_concurrency=True, max_concurrency=8, learn=False)
    async with Pynector(transport_type="callable", fn=fn, rate_limit=quota) as client:
        await client.batch_request([(i, {}) for i in range(4)], max_concurrency=8, retry=RETRY)
        assert 4 == client.statistics().quota[0].concurrency_limit
        await client.batch_request([(i, {}) for i in range(40)], max_concurrency=8)
        assert 8 == client.statistics().quota[0].concurrency_limit


async def test_a_pause_is_a_span_event_and_a_log_event(autojump_clock: trio.abc.Clock) -> None:
    """A key that pauses records pynector.quota.pause on the current span and logs a WARNING."""
    fn = Throttling(refuse=1, pause=2.0)
    with capture_spans() as spans, capture_logs() as logs:
        async with Pynector(transport_type="callable", fn=fn, rate_limit="auto") as client:
            await client.batch_request([(1, {})], retry=RETRY)
        events = [e for s in spans.get_finished_spans() for e in s.events if e.name == "pynector.quota.pause"]
    assert [2.0] == [e.attributes["pynector.quota.wait_s"] for e in events]
    assert ["pynector quota paused"] == [
        r["message"] for r in logs.at_level("WARNING") if "quota" in r["message"]
    ]


async def test_telemetry_off_emits_nothing(autojump_clock: trio.abc.Clock) -> None:
    """With enable_telemetry=False a pause still happens but produces no event."""
    fn = Throttling(refuse=1, pause=2.0)
    with capture_logs() as logs:
        async with Pynector(
            transport_type="callable", fn=fn, rate_limit="auto", enable_telemetry=False
        ) as client:
            await client.batch_request([(1, {})], retry=RETRY)
            assert 1 == client.statistics().quota[0].pauses
    assert [] == [r for r in logs if "quota" in r["message"]]


def test_invalid_settings_are_refused() -> None:
    """rate_limit accepts None, "auto" or a Quota; Quota checks its numbers."""
    with pytest.raises(ConfigurationError, match="rate_limit"):
        Pynector(transport_type="callable", fn=lambda d: d, rate_limit="fast")
    with pytest.raises(ConfigurationError, match="requests_per_minute"):
        Quota(requests_per_minute=-1)
    with pytest.raises(ConfigurationError, match="headroom"):
        Quota(headroom=1.5)
    with pytest.raises(ConfigurationError, match="on_redis_error"):
        Quota(on_redis_error="ignore")


async def test_the_default_key_is_the_origin(autojump_clock: trio.abc.Clock) -> None:
    """Two origins are two keys: a pause of one does not hold back the other."""
    paused = QuotaService(requests_per_minute=1, headers=None)
    free = QuotaService(requests_per_minute=1000, headers=None)
    async with (
        open_http_server(paused.handler) as one,
        open_http_server(free.handler) as two,
        Pynector(transport_type="http", rate_limit="auto") as client,
    ):
        requests = [({"url": one.url}, {}), ({"url": one.url}, {})] + [({"url": two.url}, {})] * 5
        start = trio.current_time()
        await client.batch_request(requests, max_concurrency=8)
        assert trio.current_time() - start < 1
        keys = {s.key: s.pauses for s in client.statistics().quota}
    assert {("http", "127.0.0.1", one.port): 1, ("http", "127.0.0.1", two.port): 0} == keys


@settings(max_examples=40, deadline=None)
@given(
    per_minute=st.integers(60, 6000),
    workers=st.integers(1, 12),
    refusals=st.dictionaries(st.integers(0, 59), st.floats(0.01, 5.0), max_size=4),
)
def test_starts_respect_the_rate_and_every_pause(
    per_minute: int, workers: int, refusals: dict[int, float]
) -> None:
    """Whatever the pauses: no start inside a pause, and any window holds at most 1 + rate * length."""
    quota = Quota(requests_per_minute=per_minute, headroom=0.0, learn=False)
    rate = per_minute / 60.0
    starts: list[float] = []
    pauses: list[tuple[float, float]] = []

    async def worker(queue: list[int]) -> None:
        while queue:
            index = queue.pop()
            state = await quota.acquire(None)
            now = trio.current_time()
            starts.append(now)
            await trio.sleep(0.001)
            wait = refusals.get(index)
            if wait is None:
                quota.observe(state, state.decreases, 0.0, index, None)
            else:
                error = RateLimitError("slow down", status_code=429, retry_after=wait)
                quota.observe(state, state.decreases, 0.0, None, error)
                pauses.append((trio.current_time(), trio.current_time() + wait))

    async def main() -> None:
        queue = list(range(60))
        async with trio.open_nursery() as nursery:
            for _ in range(workers):
                nursery.start_soon(worker, queue)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert 60 == len(starts)
    for begin, end in pauses:
        assert not [t for t in starts if begin < t < end - 1e-9]
    starts.sort()
    for i, first in enumerate(starts):
        for j in range(i, len(starts)):
            length = starts[j] - first
            assert j - i + 1 <= 1 + math.floor(length * rate + 1e-6)


async def test_idle_keys_are_dropped_but_learned_ones_kept(autojump_clock: trio.abc.Clock) -> None:
    """Over many keys the table stays bounded; a key that learned a rate survives the pruning."""
    fn = Throttling(refuse=3, pause=1.0)
    quota = Quota(key=lambda data, options: data)
    async with Pynector(transport_type="callable", fn=fn, rate_limit=quota) as client:
        for _ in range(3):  # two answers, then a 429: a rate is learned for this key
            await client.request_with_retry("learned", retry=RETRY)
        await client.batch_request([(i, {}) for i in range(5000)], max_concurrency=16)
        keys = {s.key for s in client.statistics().quota}
    assert len(keys) <= 2048
    assert "learned" in keys
