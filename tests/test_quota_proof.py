"""The quota proof: 5,000 requests against 600 requests and 60,000 tokens per minute, on trio's clock.

The learning limiter must sustain at least 90% of the limit with at most 2% of requests answered 429
and no request lost; today's behaviour (no limiter, retries that honour Retry-After) runs beside it for
comparison, and both are printed (``pytest -s``). The trial itself is ``benchmarks/quota_bench.py``'s.
"""

from __future__ import annotations

import pytest
import trio
from helpers.bench import load_benchmark

REQUESTS = 5_000

bench = load_benchmark("quota_bench")


async def test_todays_behaviour_for_comparison(autojump_clock: trio.abc.Clock) -> None:
    """Without a limiter every request still gets through, at the price of many 429s (printed)."""
    row = await bench.quota_trial(REQUESTS, None, learning=False)
    print(f"\n{bench.TRIAL_HEADER}\n{bench.format_trial(row)}")
    assert 0 == row["lost"]
    assert row["refused_share"] > 0.05  # what the limiter is for


@pytest.mark.parametrize("family", [None, "openai", "ietf"], ids=["no-headers", "openai", "ietf"])
async def test_learning_limiter_sustains_90_percent_with_under_2_percent_429s(
    autojump_clock: trio.abc.Clock, family: str | None
) -> None:
    """With rate_limit learning (from headers, or AIMD without them): >= 90% of the limit, <= 2% 429s."""
    row = await bench.quota_trial(REQUESTS, family, learning=True)
    print(f"\n{bench.TRIAL_HEADER}\n{bench.format_trial(row)}")
    assert 0 == row["lost"]
    assert REQUESTS == row["served"]
    assert row["sustained"] >= 0.90
    assert row["refused_share"] <= 0.02
