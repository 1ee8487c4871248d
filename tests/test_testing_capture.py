"""capture_logs and no_retry_wait, used directly (without the pytest fixtures).

capture_spans installs a global tracer provider (once per process), so it is tested in a subprocess, in
tests/test_testing_plugin.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from loguru import logger

import pynector
from pynector._retry import RETRY_WAIT_HOOK, RetryPolicy, call_with_retry
from pynector.testing import MockTransport, capture_logs, no_retry_wait


def emit_as(module: str, level: str, message: str) -> None:
    """Log *message* as if from *module* (loguru names records after the calling module)."""
    code = compile("logger.log(level, message)", "<emit>", "exec")
    exec(code, {"__name__": module, "logger": logger, "level": level, "message": message})


def test_capture_logs_keeps_pynector_records_at_or_above_the_level() -> None:
    """Only pynector's records at the requested level or above are captured, in order."""
    with capture_logs(level="INFO") as records:
        emit_as("pynector._client", "DEBUG", "too low")
        emit_as("pynector._client", "INFO", "first")
        emit_as("pynectorish", "ERROR", "another package")
        emit_as("pynector.transport._memory", "ERROR", "second")
    assert ["first", "second"] == records.messages
    assert ["pynector._client", "pynector.transport._memory"] == [r["name"] for r in records]


def test_capture_logs_restores_the_library_default() -> None:
    """After the block, pynector's events are disabled again and the sink is gone."""
    with capture_logs() as records:
        pass
    seen: list[Any] = []
    sink = logger.add(seen.append, level=0)
    try:
        emit_as("pynector._client", "ERROR", "after")
    finally:
        logger.remove(sink)
    assert ([], []) == (seen, list(records))


async def test_no_retry_wait_keeps_every_decision(autojump_clock: trio.testing.MockClock) -> None:
    """Waits become zero, but a Retry-After beyond max_retry_after still ends the retries."""
    mock = MockTransport()
    mock.route().fail_status(503, retry_after=2).fail_status(503, retry_after=600)
    policy = RetryPolicy(max_retries=5, max_retry_after=300)
    start = trio.current_time()
    async with pynector.Pynector(transport=mock) as client:
        with no_retry_wait() as waits, pytest.raises(pynector.HTTPServerError) as info:
            await client.request_with_retry("x", retry=policy)
    assert [2.0] == waits
    assert 2 == info.value.attempts
    assert start == trio.current_time()


async def test_skipped_waits_do_not_count_against_the_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The policy's total deadline counts time that passes; skipped waits do not consume it."""
    attempts: list[int] = []

    async def attempt(number: int) -> None:
        attempts.append(number)
        raise pynector.ReadError("reset")

    policy = RetryPolicy(max_retries=3, initial_delay=4, jitter=0, timeout=10)
    with no_retry_wait() as waits, pytest.raises(pynector.ReadError) as info:
        await call_with_retry(policy, attempt)
    # Without the switch the second wait (4 + 8 > 10) would end the retries; here only a single wait
    # longer than the whole deadline (16 > 10) does.
    assert ([4.0, 8.0], [1, 2, 3]) == (waits, attempts)
    assert 3 == info.value.attempts


async def test_no_retry_wait_zero_wait_is_still_a_cancellation_point() -> None:
    """Cancelling the retry loop during a zero wait propagates Cancelled at once."""
    attempts: list[int] = []

    async def attempt(number: int) -> None:
        attempts.append(number)
        if number == 2:
            trio.lowlevel.current_task().parent_nursery.cancel_scope.cancel()  # type: ignore[union-attr]
        raise pynector.ReadError("reset")

    with no_retry_wait():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call_with_retry, RetryPolicy(max_retries=100), attempt)
    assert [1, 2] == attempts


async def test_no_retry_wait_applies_to_the_block_only(autojump_clock: trio.testing.MockClock) -> None:
    """Outside the block the hook is unset and waits are real again (on trio's clock)."""
    with no_retry_wait():
        assert RETRY_WAIT_HOOK.get() is not None
    assert RETRY_WAIT_HOOK.get() is None
    mock = MockTransport()
    mock.route().fail_reset().respond("ok")
    start = trio.current_time()
    async with pynector.Pynector(transport=mock) as client:
        policy = RetryPolicy(max_retries=1, initial_delay=3, jitter=0)
        assert "ok" == await client.request_with_retry("x", retry=policy)
    assert 3.0 == trio.current_time() - start
