"""The shared retry budget: exact token arithmetic and bounded load against a failing service."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import pynector
from pynector.testing import MockTransport

NO_OPTIONS: dict[str, Any] = {}


def always_failing() -> MockTransport:
    """A service that refuses every request (ConnectError, retryable); ``len(mock.calls)`` counts hits."""
    mock = MockTransport()
    mock.route().fail_connect()
    return mock


def test_token_arithmetic_is_exact() -> None:
    """Failures take 1 token, successes give token_ratio, retries need more than half."""
    budget = pynector.RetryBudget(max_tokens=10, token_ratio=0.1)
    for _ in range(4):
        budget.record_failure()
    assert budget.try_retry()
    budget.record_failure()
    assert not budget.try_retry()
    assert 5.0 == budget.statistics().tokens
    budget.record_success()
    assert budget.try_retry()
    for _ in range(100):
        budget.record_success()
    assert (
        pynector.RetryBudgetStatistics(
            tokens=10.0, max_tokens=10.0, token_ratio=0.1, retries_allowed=2, retries_refused=1
        )
        == budget.statistics()
    )


def test_tokens_never_negative() -> None:
    """Tokens stop at zero, so a long outage does not need a long recovery."""
    budget = pynector.RetryBudget(max_tokens=4, token_ratio=1)
    for _ in range(50):
        budget.record_failure()
    assert 0.0 == budget.statistics().tokens
    for _ in range(3):
        budget.record_success()
    assert budget.try_retry()


@given(n=st.integers(1, 40), max_tokens=st.integers(1, 20))
def test_batch_server_hits_are_bounded(n: int, max_tokens: int) -> None:
    """A batch of N against an always-failing server makes N + ceil(M/2) - 1 attempts, not N*(r+1)."""
    service = always_failing()
    budget = pynector.RetryBudget(max_tokens=max_tokens)
    policy = pynector.RetryPolicy(max_retries=25, initial_delay=0.1, jitter=0, budget=budget)

    async def main() -> list[Any]:
        async with pynector.Pynector(transport=service) as client:
            return await client.batch_request(
                [(i, NO_OPTIONS) for i in range(n)], max_concurrency=8, retry=policy
            )

    results = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    granted = math.ceil(max_tokens / 2) - 1
    assert n + granted == len(service.calls)
    assert all(isinstance(r, pynector.ConnectError) for r in results)
    stats = budget.statistics()
    assert granted == stats.retries_allowed
    assert n == stats.retries_refused
    assert n + granted == sum(r.attempts for r in results)


async def test_without_budget_retries_multiply_load(autojump_clock: trio.testing.MockClock) -> None:
    """Control: with no budget, 20 items x (3 retries + 1) hit the server 80 times."""
    service = always_failing()
    policy = pynector.RetryPolicy(max_retries=3, initial_delay=0.1, jitter=0)
    async with pynector.Pynector(transport=service) as client:
        await client.batch_request([(i, NO_OPTIONS) for i in range(20)], retry=policy)
    assert 80 == len(service.calls)


async def test_refused_retry_is_explained(autojump_clock: trio.testing.MockClock) -> None:
    """When the budget refuses a retry, the error says so in a note and keeps its attempt count."""
    budget = pynector.RetryBudget(max_tokens=2)
    policy = pynector.RetryPolicy(max_retries=5, initial_delay=0.1, budget=budget)
    async with pynector.Pynector(transport=always_failing()) as client:
        with pytest.raises(pynector.ConnectError) as info:
            await client.request_with_retry("x", retry=policy)
    assert 1 == info.value.attempts
    assert any("retry budget exhausted" in note for note in info.value.__notes__)


async def test_successes_refill_the_budget(autojump_clock: trio.testing.MockClock) -> None:
    """Once the service recovers, successes give tokens back and retries are allowed again."""
    budget = pynector.RetryBudget(max_tokens=4, token_ratio=1)
    for _ in range(4):
        budget.record_failure()
    healthy = {"up": True}

    def handler(data: Any, **options: Any) -> Any:
        if not healthy["up"]:
            raise ConnectionRefusedError("down")
        return data

    policy = pynector.RetryPolicy(max_retries=3, initial_delay=0.1, budget=budget)
    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        for i in range(3):
            assert i == await client.request_with_retry(i, retry=policy)
    assert budget.try_retry()


async def test_non_retryable_failures_do_not_spend(autojump_clock: trio.testing.MockClock) -> None:
    """A failure the policy would never retry (a user error) neither takes nor gives tokens."""
    budget = pynector.RetryBudget(max_tokens=2)

    def handler(data: Any, **options: Any) -> Any:
        raise KeyError(data)

    policy = pynector.RetryPolicy(budget=budget)
    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        for i in range(5):
            with pytest.raises(KeyError):
                await client.request_with_retry(i, retry=policy)
    assert 2.0 == budget.statistics().tokens


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1001}, "max_tokens"),
        ({"token_ratio": 0}, "token_ratio"),
        ({"max_tokens": 2, "token_ratio": 3}, "token_ratio"),
        ({"max_tokens": math.nan}, "max_tokens"),
    ],
)
def test_invalid_budget(kwargs: dict[str, Any], message: str) -> None:
    """Out-of-range budgets are configuration errors."""
    with pytest.raises(pynector.ConfigurationError, match=message):
        pynector.RetryBudget(**kwargs)


def test_policy_rejects_non_budget() -> None:
    """RetryPolicy(budget=...) only takes a RetryBudget."""
    with pytest.raises(pynector.ConfigurationError, match="budget"):
        pynector.RetryPolicy(budget=10)  # type: ignore[arg-type]


def test_budget_off_by_default() -> None:
    """A default RetryPolicy has no budget."""
    assert pynector.RetryPolicy().budget is None
