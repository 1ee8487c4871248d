"""Pynector.statistics(): a frozen snapshot of in-flight, waiting, completed, failed, retried, timed out."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import trio
import trio.testing

import pynector

ZERO = pynector.ClientStatistics(in_flight=0, waiting=0, completed=0, failed=0, retried=0, timed_out=0)


def refuse(data: Any, **options: Any) -> Any:
    raise ConnectionRefusedError("refused")


class Gate:
    """An async handler that blocks every exchange until released."""

    def __init__(self) -> None:
        self.release = trio.Event()

    async def __call__(self, data: Any, **options: Any) -> Any:
        await self.release.wait()
        return data


def test_fresh_client_is_all_zero_and_snapshot_is_frozen() -> None:
    """A new client reports zeros; the snapshot cannot be modified."""
    client = pynector.Pynector(transport_type="memory", handler=refuse)
    snapshot = client.statistics()
    assert ZERO == snapshot
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.completed = 1  # type: ignore[misc]


@pytest.mark.parametrize("enable_telemetry", [True, False])
async def test_completed_failed_and_timed_out_are_counted(
    enable_telemetry: bool, autojump_clock: Any
) -> None:
    """Successes, failures and timeouts are counted, with telemetry on or off."""
    outcomes = {"ok": lambda: "ok", "fail": lambda: refuse(None)}

    async def handler(data: str, **options: Any) -> Any:
        if data == "slow":
            await trio.sleep_forever()
        return outcomes[data]()

    async with pynector.Pynector(
        transport_type="memory", handler=handler, enable_telemetry=enable_telemetry
    ) as client:
        await client.request("ok")
        await client.request("ok")
        with pytest.raises(pynector.ConnectError):
            await client.request("fail")
        with pytest.raises(pynector.TimeoutError):
            await client.request("slow", timeout=1)
        expected = dataclasses.replace(ZERO, completed=2, failed=2, timed_out=1)
        assert expected == client.statistics()


async def test_in_flight_and_waiting_during_a_batch() -> None:
    """While a batch runs, started items are in flight and the rest are waiting."""
    gate = Gate()
    async with (
        pynector.Pynector(transport_type="memory", handler=gate) as client,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(client.batch_request, [(i, {}) for i in range(5)], 2)
        await trio.testing.wait_all_tasks_blocked()
        assert (2, 3) == (client.statistics().in_flight, client.statistics().waiting)
        gate.release.set()
    assert dataclasses.replace(ZERO, completed=5) == client.statistics()


async def test_batch_deadline_counts_cut_off_items_as_timed_out(autojump_clock: Any) -> None:
    """Items in flight or never started when the batch deadline fires count as timed out."""
    gate = Gate()
    async with pynector.Pynector(transport_type="memory", handler=gate) as client:
        results = await client.batch_request([(i, {}) for i in range(5)], max_concurrency=2, timeout=3)
    assert 5 == sum(isinstance(r, pynector.TimeoutError) for r in results)
    assert dataclasses.replace(ZERO, timed_out=5) == client.statistics()


async def test_retry_counts_retries_and_waiting_during_backoff(autojump_clock: Any) -> None:
    """Each retry is counted, and a request sleeping before its next attempt is waiting."""
    calls = 0

    def flaky(data: Any, **options: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionRefusedError("refused")
        return data

    policy = pynector.RetryPolicy(max_retries=3, initial_delay=10.0, jitter=0.0)
    async with pynector.Pynector(transport_type="memory", handler=flaky) as client:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: client.request_with_retry("x", retry=policy))
            await trio.sleep(5)  # inside the first 10 s backoff
            assert dataclasses.replace(ZERO, waiting=1, failed=1, retried=1) == client.statistics()
        assert dataclasses.replace(ZERO, completed=1, failed=2, retried=2) == client.statistics()


async def test_cancellation_during_backoff_leaves_no_waiting(autojump_clock: Any) -> None:
    """A retry cancelled while it waits is neither waiting nor in flight afterwards."""
    policy = pynector.RetryPolicy(max_retries=3, initial_delay=10.0, jitter=0.0)
    async with pynector.Pynector(transport_type="memory", handler=refuse) as client:
        with trio.move_on_after(5):
            await client.request_with_retry("x", retry=policy)
        assert dataclasses.replace(ZERO, failed=1, retried=1) == client.statistics()


async def test_cancelled_attempt_is_not_a_failure(autojump_clock: Any) -> None:
    """An attempt cancelled from outside leaves in_flight at zero and counts as nothing."""
    async with pynector.Pynector(transport_type="memory", handler=Gate()) as client:
        with trio.move_on_after(1):
            await client.request(1)
        assert ZERO == client.statistics()


async def test_attempt_cut_by_retry_deadline_is_timed_out(autojump_clock: Any) -> None:
    """An attempt interrupted by the retry policy's total deadline counts as timed out."""
    policy = pynector.RetryPolicy(max_retries=3, timeout=5.0)
    async with pynector.Pynector(transport_type="memory", handler=Gate()) as client:
        with pytest.raises(pynector.TimeoutError):
            await client.request_with_retry("x", retry=policy)
        assert dataclasses.replace(ZERO, timed_out=1) == client.statistics()
