"""RetryPolicy and request_with_retry: attempts, waits, deadlines, cancellation."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

import pynector
from pynector import ConfigurationError, Pynector, RetryBudget, RetryPolicy
from pynector._retry import call_with_retry


class FailingHandler:
    """Fails the first `failures` calls with `error`, then answers; records call times."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionResetError(104, "reset by peer")
        self.times: list[float] = []

    def __call__(self, data: Any, **options: Any) -> Any:
        self.times.append(trio.current_time())
        if len(self.times) <= self.failures:
            raise self.error
        return data


def fixed(value: float) -> Any:
    return lambda: value


@pytest.mark.parametrize(("failures", "max_retries"), [(0, 3), (1, 3), (3, 3), (2, 0), (5, 5)])
async def test_exact_attempt_counts(autojump_clock: trio.abc.Clock, failures: int, max_retries: int) -> None:
    """At most max_retries + 1 attempts; success as soon as an attempt succeeds."""
    handler = FailingHandler(failures)
    async with Pynector(transport_type="memory", handler=handler) as client:
        if failures <= max_retries:
            assert await client.request_with_retry(b"ok", max_retries=max_retries) == b"ok"
            assert failures + 1 == len(handler.times)
        else:
            with pytest.raises(pynector.ReadError) as info:
                await client.request_with_retry(b"ok", max_retries=max_retries)
            assert max_retries + 1 == len(handler.times)
            assert max_retries + 1 == info.value.attempts


async def test_waits_follow_the_documented_formula(autojump_clock: trio.abc.Clock) -> None:
    """With jitter 0 the waits are exactly initial * multiplier**(k-1), capped at max_delay."""
    handler = FailingHandler(5)
    policy = RetryPolicy(max_retries=5, initial_delay=1.0, multiplier=2.0, max_delay=5.0, jitter=0)
    async with Pynector(transport_type="memory", handler=handler) as client:
        await client.request_with_retry(b"x", retry=policy)
    waits = [b - a for a, b in itertools.pairwise(handler.times)]
    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0]


@given(u=st.floats(0, 0.999999), jitter=st.floats(0, 1), retry=st.integers(1, 40))
def test_backoff_stays_within_bounds(u: float, jitter: float, retry: int) -> None:
    """Every jittered wait lies in [base * (1 - jitter), base] and never above max_delay."""
    policy = RetryPolicy(initial_delay=0.5, max_delay=20, jitter=jitter, random=fixed(u))
    base = min(20.0, 0.5 * 2.0 ** (retry - 1))
    wait = policy.backoff(retry)
    assert base * (1 - jitter) - 1e-9 <= wait <= base + 1e-9
    assert wait <= 20


async def test_request_with_retry_uses_retry_delay(autojump_clock: trio.abc.Clock) -> None:
    """retry_delay is the first wait; default jitter keeps each wait within [d/2, d]."""
    handler = FailingHandler(3)
    async with Pynector(transport_type="memory", handler=handler) as client:
        start = trio.current_time()
        await client.request_with_retry(b"x", max_retries=3, retry_delay=2.0)
        total = trio.current_time() - start
    waits = [b - a for a, b in itertools.pairwise(handler.times)]
    for wait, base in zip(waits, [2.0, 4.0, 8.0], strict=True):
        assert base / 2 <= wait <= base
    assert 7.0 <= total <= 14.0


async def test_non_transport_errors_are_not_retried(autojump_clock: trio.abc.Clock) -> None:
    """An application error is raised at once, after one attempt."""
    handler = FailingHandler(10, ValueError("bad payload"))
    async with Pynector(transport_type="memory", handler=handler) as client:
        with pytest.raises(ValueError, match="bad payload"):
            await client.request_with_retry(b"x", max_retries=5)
    assert len(handler.times) == 1


async def test_timeouts_are_retried(autojump_clock: trio.abc.Clock) -> None:
    """A per-attempt timeout is a TransportError and is retried."""
    calls = 0

    async def handler(data: Any, **options: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls < 3:
            await trio.sleep(10)
        return data

    async with Pynector(transport_type="memory", handler=handler) as client:
        assert await client.request_with_retry(b"x", max_retries=3, timeout=1) == b"x"
    assert calls == 3


async def test_cancellation_during_backoff_propagates_at_once(autojump_clock: trio.abc.Clock) -> None:
    """Cancelling during a wait stops immediately, with no further attempt."""
    handler = FailingHandler(10)
    async with Pynector(transport_type="memory", handler=handler) as client:
        start = trio.current_time()
        with trio.move_on_after(0.5) as scope:
            await client.request_with_retry(b"x", max_retries=5, retry_delay=10)
        assert scope.cancelled_caught
        assert trio.current_time() - start == 0.5
    assert len(handler.times) == 1


async def test_keyboard_interrupt_is_never_retried() -> None:
    """KeyboardInterrupt from an attempt propagates on the first attempt."""
    calls = 0

    def handler(data: Any, **options: Any) -> Any:
        nonlocal calls
        calls += 1
        raise KeyboardInterrupt

    async with Pynector(transport_type="memory", handler=handler) as client:
        with pytest.raises(KeyboardInterrupt):
            await client.request_with_retry(b"x", max_retries=5)
    assert calls == 1


async def test_total_deadline_covers_attempts_and_waits(autojump_clock: trio.abc.Clock) -> None:
    """A wait that would pass the policy deadline ends the retries at once with the last error."""
    handler = FailingHandler(10)
    policy = RetryPolicy(max_retries=10, initial_delay=1, jitter=0, timeout=6)
    async with Pynector(transport_type="memory", handler=handler) as client:
        start = trio.current_time()
        with pytest.raises(pynector.ReadError) as info:
            await client.request_with_retry(b"x", retry=policy)
        # waits 1, 2 (t=3), then 4 would end at 7 > 6: fail at t=3 without sleeping
        assert trio.current_time() - start == 3
    assert info.value.attempts == 3


async def test_total_deadline_interrupts_a_slow_attempt(autojump_clock: trio.abc.Clock) -> None:
    """The policy deadline also bounds an attempt in progress."""

    async def handler(data: Any, **options: Any) -> Any:
        await trio.sleep(100)

    policy = RetryPolicy(max_retries=3, timeout=5)
    async with Pynector(transport_type="memory", handler=handler) as client:
        with pytest.raises(pynector.TimeoutError, match="retry deadline of 5s expired during attempt 1"):
            await client.request_with_retry(b"x", retry=policy)


async def test_server_requested_wait_replaces_backoff(autojump_clock: trio.abc.Clock) -> None:
    """An error's retry_after (e.g. from Retry-After) is the wait, and statuses 429/503 retry."""
    times: list[float] = []

    async def attempt(number: int) -> str:
        times.append(trio.current_time())
        if number == 1:
            raise pynector.RateLimitError("slow down", status_code=429, retry_after=7)
        if number == 2:
            raise pynector.HTTPServerError("unavailable", status_code=503, retry_after=0.25)
        return "ok"

    assert await call_with_retry(RetryPolicy(jitter=0), attempt) == "ok"
    assert [b - a for a, b in itertools.pairwise(times)] == [7, 0.25]


async def test_other_statuses_are_not_retried_by_default() -> None:
    """404 or 500 are not retried unless listed in retry_statuses."""
    attempts = 0

    async def attempt(number: int) -> str:
        nonlocal attempts
        attempts += 1
        raise pynector.HTTPServerError("boom", status_code=500)

    with pytest.raises(pynector.HTTPServerError):
        await call_with_retry(RetryPolicy(), attempt)
    assert attempts == 1


async def test_retry_after_beyond_the_cap_fails_at_once(autojump_clock: trio.abc.Clock) -> None:
    """A server asking for a wait beyond max_retry_after ends the retries without sleeping."""

    async def attempt(number: int) -> str:
        raise pynector.RateLimitError("later", status_code=429, retry_after=3600)

    start = trio.current_time()
    with pytest.raises(pynector.RateLimitError) as info:
        await call_with_retry(RetryPolicy(max_retry_after=60), attempt)
    assert trio.current_time() - start == 0
    assert info.value.attempts == 1


def busy_until(answered: int, status: int = 503) -> Any:
    """An attempt that returns *status* until attempt *answered*, then 200; records attempt times."""
    times: list[float] = []

    async def attempt(number: int) -> int:
        times.append(trio.current_time())
        return 200 if number >= answered else status

    attempt.times = times  # type: ignore[attr-defined]
    return attempt


def status_failure(status: int) -> Exception | None:
    """What a returned status stands for: a 503 asking for a 2 s wait, or nothing."""
    if status == 503:
        return pynector.HTTPServerError("unavailable", status_code=503, retry_after=2)
    return None


async def test_result_failure_retries_a_returned_status(autojump_clock: trio.abc.Clock) -> None:
    """A result that stands for a retryable failure is retried, waiting what that failure asks."""
    attempt = busy_until(3)
    seen: list[float | None] = []
    policy = RetryPolicy(result_failure=status_failure)
    result = await call_with_retry(policy, attempt, on_retry=lambda n, exc, wait: seen.append(wait))
    assert 200 == result
    assert [2, 2] == [b - a for a, b in itertools.pairwise(attempt.times)]
    assert [2, 2] == seen


@pytest.mark.parametrize(
    ("policy", "attempts"),
    [
        (RetryPolicy(max_retries=2, result_failure=status_failure), 3),  # the retries run out
        (RetryPolicy(retry_statuses={429}, result_failure=status_failure), 1),  # 503 not listed
        (RetryPolicy(max_retry_after=1, result_failure=status_failure), 1),  # the wait is too long
        (RetryPolicy(budget=RetryBudget(max_tokens=1), result_failure=status_failure), 1),  # no budget
    ],
)
async def test_result_failure_not_retried_returns_the_result(
    autojump_clock: trio.abc.Clock, policy: RetryPolicy, attempts: int
) -> None:
    """When the failure a result stands for is not retried, the caller gets the result, not an error."""
    attempt = busy_until(10)
    assert 503 == await call_with_retry(policy, attempt)
    assert attempts == len(attempt.times)


async def test_retry_if_narrows_what_is_retried() -> None:
    """retry_if can veto retrying an exception that retry_on admits."""
    attempts = 0

    async def attempt(number: int) -> str:
        nonlocal attempts
        attempts += 1
        raise pynector.ConnectError("refused")

    with pytest.raises(pynector.ConnectError):
        await call_with_retry(RetryPolicy(retry_if=lambda exc: False), attempt)
    assert attempts == 1


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"initial_delay": float("nan")}, "initial_delay"),
        ({"max_delay": -1}, "max_delay"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"jitter": 1.5}, "jitter"),
        ({"timeout": 0}, "timeout"),
        ({"retry_on": (KeyboardInterrupt,)}, "retry_on"),
        ({"result_failure": "503"}, "result_failure"),
    ],
)
def test_policy_validation(kwargs: dict[str, Any], needle: str) -> None:
    """Invalid policies are rejected at construction."""
    with pytest.raises(ConfigurationError, match=needle):
        RetryPolicy(**kwargs)


async def test_policy_and_shorthand_arguments_are_exclusive() -> None:
    """retry= cannot be combined with max_retries/retry_delay."""
    async with Pynector(transport_type="memory", handler=lambda d, **o: d) as client:
        with pytest.raises(ConfigurationError, match="either"):
            await client.request_with_retry(b"x", max_retries=1, retry=RetryPolicy())


async def test_client_config_supplies_retry_defaults(autojump_clock: trio.abc.Clock) -> None:
    """max_retries and retry_delay default to the client's configuration."""
    handler = FailingHandler(10)
    config = {"max_retries": 1, "retry_delay": 3.0}
    async with Pynector(transport_type="memory", handler=handler, config=config) as client:
        with pytest.raises(pynector.ReadError):
            await client.request_with_retry(b"x")
    assert len(handler.times) == 2
    assert 1.5 <= handler.times[1] - handler.times[0] <= 3.0


def flaky_handler(failures: int) -> Any:
    """A memory handler failing its first *failures* calls with a connection reset, then echoing."""
    calls = 0

    async def handler(data: Any, **options: Any) -> Any:
        nonlocal calls
        calls += 1
        await trio.sleep(1)
        if calls <= failures:
            raise ConnectionResetError("reset")
        return data

    return handler


async def test_on_finish_reports_the_attempts_of_a_success(autojump_clock: trio.abc.Clock) -> None:
    """A success after two failures reports three attempts, timed from first start to last end."""
    seen: list[tuple[Any, pynector.RetryDetails]] = []
    policy = RetryPolicy(
        max_retries=3, initial_delay=1.0, jitter=0, on_finish=lambda d, r: seen.append((d, r))
    )
    async with Pynector(transport_type="memory", handler=flaky_handler(2)) as client:
        start = trio.current_time()
        assert "x" == await client.request_with_retry("x", retry=policy)
    [(data, details)] = seen
    assert "x" == data
    # three 1 s attempts with waits of 1 s and 2 s between them
    assert (3, None, False, 6.0) == (details.attempts, details.error, details.cancelled, details.elapsed)
    assert start == details.started


async def test_on_finish_reports_the_error_of_a_failure(autojump_clock: trio.abc.Clock) -> None:
    """When retries run out the hook gets the error the caller sees, and the attempt count."""
    seen: list[pynector.RetryDetails] = []
    policy = RetryPolicy(max_retries=1, initial_delay=1.0, jitter=0, on_finish=lambda d, r: seen.append(r))
    async with Pynector(transport_type="memory", handler=flaky_handler(5)) as client:
        with pytest.raises(pynector.TransportError) as info:
            await client.request_with_retry("x", retry=policy)
    assert [(2, info.value)] == [(r.attempts, r.error) for r in seen]


async def test_on_finish_reports_each_batch_item(autojump_clock: trio.abc.Clock) -> None:
    """In a batch with retry=, every item is reported once with its own data and attempts."""
    failures = {"a": 0, "b": 1, "c": 2}
    calls: dict[str, int] = {}

    async def handler(data: str, **options: Any) -> str:
        calls[data] = calls.get(data, 0) + 1
        if calls[data] <= failures[data]:
            raise ConnectionResetError("reset")
        return data

    seen: dict[str, int] = {}
    policy = RetryPolicy(
        max_retries=3, initial_delay=0.5, on_finish=lambda d, r: seen.update({d: r.attempts})
    )
    async with Pynector(transport_type="memory", handler=handler) as client:
        results = await client.batch_request([(key, {}) for key in failures], retry=policy)
    assert ["a", "b", "c"] == results
    assert {"a": 1, "b": 2, "c": 3} == seen


async def test_on_finish_marks_a_cancelled_call(autojump_clock: trio.abc.Clock) -> None:
    """A call cancelled mid-attempt is reported as cancelled, with no error stored."""
    seen: list[pynector.RetryDetails] = []
    policy = RetryPolicy(on_finish=lambda d, r: seen.append(r))
    async with Pynector(transport_type="memory", handler=flaky_handler(0)) as client:
        with trio.move_on_after(0.5):
            await client.request_with_retry("x", retry=policy)
    assert [(1, None, True)] == [(r.attempts, r.error, r.cancelled) for r in seen]


def test_on_finish_must_be_callable() -> None:
    """A hook that is not callable is rejected when the policy is built."""
    with pytest.raises(ConfigurationError, match="on_finish must be a callable"):
        RetryPolicy(on_finish="print")  # type: ignore[arg-type]
