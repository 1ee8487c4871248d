"""A deadline is the client's only when the client's own cancel scope fired.

A ``trio.TooSlowError`` raised *inside* a transport (a memory handler's own ``fail_after``, a custom
``stream()``, a connect function) is that transport's failure: it reaches the caller as a pynector
error whose ``__cause__`` is the original and whose message does not claim the client's timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from helpers.fakes import EchoTransport

import pynector
from pynector import Pynector, RetryPolicy
from pynector._retry import call_with_retry
from pynector.transport import StreamTransport


async def _handler_with_own_deadline(data: Any, **options: Any) -> Any:
    """A handler whose own deadline (not the client's) passes."""
    with trio.fail_after(0.5):
        await trio.sleep_forever()


@pytest.mark.parametrize("timeout", [None, 5.0])
async def test_handler_own_deadline_is_a_transport_failure(
    autojump_clock: trio.abc.Clock, timeout: float | None
) -> None:
    """A handler's own TooSlowError is the transport's timeout, not the client's (with or without one)."""
    async with Pynector(transport_type="memory", handler=_handler_with_own_deadline) as client:
        with pytest.raises(pynector.TimeoutError) as caught:
            await client.request("x", timeout=timeout)
    assert trio.TooSlowError is type(caught.value.__cause__)
    assert "5s" not in str(caught.value)
    assert "inside the transport" in str(caught.value)
    assert 1 == client.statistics().failed


async def test_client_deadline_is_still_reported_as_its_own(autojump_clock: trio.abc.Clock) -> None:
    """When the client's scope fires, the error names the client's timeout."""

    async def slow(data: Any, **options: Any) -> Any:
        await trio.sleep_forever()

    async with Pynector(transport_type="memory", handler=slow) as client:
        with pytest.raises(pynector.TimeoutError) as caught:
            await client.request("x", timeout=3)
    assert "timed out after 3s" in str(caught.value)
    assert 1 == client.statistics().timed_out


async def test_batch_item_with_foreign_timeout(autojump_clock: trio.abc.Clock) -> None:
    """A batch slot holds the transport's timeout error, not a TypeError, when no timeout is set."""
    async with Pynector(transport_type="memory", handler=_handler_with_own_deadline) as client:
        results = await client.batch_request([("a", {}), ("b", {"timeout": 4})])
    assert [pynector.TimeoutError, pynector.TimeoutError] == [type(r) for r in results]
    assert all("inside the transport" in str(r) for r in results)


class _StreamRaisesTooSlow(EchoTransport):
    """A transport whose ``stream()`` hits its own deadline while opening."""

    @asynccontextmanager
    async def stream(self, data: Any, **options: Any) -> AsyncIterator[Any]:
        with trio.fail_after(0.1):
            await trio.sleep_forever()
        yield data  # pragma: no cover - never reached


@pytest.mark.parametrize("timeout", [None, 7.0])
async def test_custom_stream_own_deadline(autojump_clock: trio.abc.Clock, timeout: float | None) -> None:
    """A custom stream()'s own TooSlowError is not reported as the client's stream deadline."""
    async with Pynector(transport=_StreamRaisesTooSlow()) as client:
        with pytest.raises(pynector.TimeoutError) as caught:
            async with client.stream("x", timeout=timeout):
                pass  # pragma: no cover - never entered
    assert trio.TooSlowError is type(caught.value.__cause__)
    assert "7s" not in str(caught.value)


async def test_client_stream_deadline_is_its_own(autojump_clock: trio.abc.Clock) -> None:
    """The client's stream deadline, when it fires, names the client's timeout."""

    class Slow(_StreamRaisesTooSlow):
        @asynccontextmanager
        async def stream(self, data: Any, **options: Any) -> AsyncIterator[Any]:
            yield data

    async with Pynector(transport=Slow()) as client:
        with pytest.raises(pynector.TimeoutError) as caught:
            async with client.stream("x", timeout=2):
                await trio.sleep_forever()
    assert "timed out after 2s" in str(caught.value)


@pytest.mark.parametrize("policy_timeout", [None, 30.0])
async def test_retry_loop_passes_a_foreign_timeout_through(
    autojump_clock: trio.abc.Clock, policy_timeout: float | None
) -> None:
    """An attempt's own TooSlowError is that attempt's failure, not the retry deadline."""
    own = trio.TooSlowError()
    made: list[int] = []

    async def attempt(number: int) -> None:
        made.append(number)
        raise own

    policy = RetryPolicy(max_retries=2, timeout=policy_timeout, retry_on=(trio.TooSlowError,), jitter=0)
    with pytest.raises(trio.TooSlowError) as caught:
        await call_with_retry(policy, attempt)
    assert own is caught.value
    assert [1, 2, 3] == made


async def test_retry_deadline_is_still_reported(autojump_clock: trio.abc.Clock) -> None:
    """When the policy's own deadline fires during an attempt, the error names it."""

    async def attempt(number: int) -> None:
        await trio.sleep_forever()

    with pytest.raises(pynector.TimeoutError) as caught:
        await call_with_retry(RetryPolicy(timeout=4), attempt)
    assert "retry deadline of 4s expired during attempt 1" == str(caught.value)


async def test_retrying_client_counts_attempts_of_a_foreign_timeout(autojump_clock: trio.abc.Clock) -> None:
    """Through the client, a handler's own timeout is a retryable transport failure, retried as such."""
    async with Pynector(transport_type="memory", handler=_handler_with_own_deadline) as client:
        with pytest.raises(pynector.TimeoutError) as caught:
            await client.request(
                "x", retry=RetryPolicy(max_retries=2, timeout=60, jitter=0, initial_delay=0.1)
            )
    assert 3 == caught.value.attempts
    assert "inside the transport" in str(caught.value)


@pytest.mark.parametrize("connect_timeout", [None, 9.0])
async def test_stream_transport_connect_with_own_deadline(
    autojump_clock: trio.abc.Clock, connect_timeout: float | None
) -> None:
    """A connect function's own TooSlowError is a connect failure, not the connect timeout."""

    async def open_stream() -> trio.abc.Stream:
        with trio.fail_after(0.1):
            await trio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    transport = StreamTransport(
        open_stream, name="custom", label="custom://peer", connect_timeout=connect_timeout
    )
    async with transport:
        with pytest.raises(pynector.ConnectError) as caught:
            await transport.exchange(b"ping")
    assert not isinstance(caught.value, pynector.ConnectTimeout)
    assert trio.TooSlowError is type(caught.value.__cause__)


async def test_stream_transport_connect_timeout_is_its_own(autojump_clock: trio.abc.Clock) -> None:
    """When the connect timeout fires, the error is a ConnectTimeout naming it."""

    async def open_stream() -> trio.abc.Stream:
        await trio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    transport = StreamTransport(open_stream, name="custom", label="custom://peer", connect_timeout=2)
    async with transport:
        with pytest.raises(pynector.ConnectTimeout) as caught:
            await transport.exchange(b"ping")
    assert "connecting to custom://peer timed out after 2s" == str(caught.value)
