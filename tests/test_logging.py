"""loguru events: structured fields, levels, trace ids, and silence unless the application listens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import trio
from helpers.telemetry import in_memory_tracing, reset_global_telemetry
from loguru import logger

import pynector
from pynector.testing import capture_logs


@pytest.fixture(autouse=True)
def _clean_globals() -> Iterator[None]:
    reset_global_telemetry()
    yield
    reset_global_telemetry()


def echo(data: Any, **options: Any) -> Any:
    return data


def refuse(data: Any, **options: Any) -> Any:
    raise ConnectionRefusedError("refused")


def memory_client(handler: Any = echo, **kwargs: Any) -> pynector.Pynector:
    return pynector.Pynector(transport_type="memory", handler=handler, **kwargs)


def summary(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(record["level"].name, record["message"]) for record in records]


async def test_attempt_event_has_structured_fields() -> None:
    """Each attempt emits one DEBUG event with bound fields and no trace ids without a span."""
    with capture_logs("DEBUG") as records:
        async with memory_client() as client:
            await client.request(1)
    (record,) = records
    assert ("DEBUG", "pynector attempt succeeded") == (record["level"].name, record["message"])
    extra = record["extra"]
    assert {"transport": "memory", "attempt": 1, "outcome": "ok"} == {
        key: extra[key] for key in ("transport", "attempt", "outcome")
    }
    assert 0 <= extra["duration_s"]
    assert "trace_id" not in extra
    assert "pynector._telemetry" == record["name"]


async def test_failed_attempt_event_names_the_error_type() -> None:
    """A failed attempt's event carries `error_type` and outcome `error`."""
    with capture_logs("DEBUG") as records:
        async with memory_client(refuse) as client:
            with pytest.raises(pynector.ConnectError):
                await client.request(1)
    (record,) = records
    assert ("error", "pynector.ConnectError") == (record["extra"]["outcome"], record["extra"]["error_type"])


async def test_events_carry_trace_and_span_ids_when_a_span_is_active() -> None:
    """With a tracer provider, attempt events carry the attempt span's trace and span ids."""
    with in_memory_tracing() as (provider, exporter), capture_logs("DEBUG") as records:
        async with memory_client(tracer_provider=provider) as client:
            await client.request(1)
    (span,) = exporter.get_finished_spans()
    (record,) = records
    context = span.get_span_context()
    assert (f"{context.trace_id:032x}", f"{context.span_id:016x}") == (
        record["extra"]["trace_id"],
        record["extra"]["span_id"],
    )


async def test_nothing_is_emitted_while_pynector_is_disabled() -> None:
    """A handler alone sees nothing: the library stays silent until the application enables it."""
    records: list[Any] = []
    sink = logger.add(lambda message: records.append(message.record), level="DEBUG")
    try:
        async with memory_client(refuse) as client:
            with pytest.raises(pynector.ConnectError):
                await client.request_with_retry(1, max_retries=0)
            await client.batch_request([(1, {})])
    finally:
        logger.remove(sink)
    assert [] == records


async def test_reenabling_after_disable_is_noticed() -> None:
    """Enabling, disabling and enabling again is honoured on the next attempt each time."""
    with capture_logs("DEBUG") as records:
        async with memory_client() as client:
            await client.request(1)
            logger.disable("pynector")
            await client.request(2)
            logger.enable("pynector")
            await client.request(3)
    assert 2 == len(records)


async def test_telemetry_disabled_client_emits_nothing() -> None:
    """`enable_telemetry=False` silences the client even when logging is enabled."""
    with capture_logs("DEBUG") as records:
        async with memory_client(enable_telemetry=False) as client:
            await client.request(1)
            await client.batch_request([(1, {})])
    assert [] == records


async def test_retries_are_debug_and_giving_up_is_a_warning(autojump_clock: Any) -> None:
    """Each scheduled retry is a DEBUG event; giving up after the last retry is one WARNING."""
    policy = pynector.RetryPolicy(max_retries=2, initial_delay=1.0, jitter=0.0)
    with capture_logs("DEBUG") as records:
        async with memory_client(refuse) as client:
            with pytest.raises(pynector.ConnectError):
                await client.request_with_retry(1, retry=policy)
    retries = [r["extra"] for r in records if r["message"] == "pynector retry scheduled"]
    assert [(1, 1.0), (2, 2.0)] == [(extra["attempt"], extra["wait_s"]) for extra in retries]
    warnings = [r for r in records if r["level"].name == "WARNING"]
    assert [("WARNING", "pynector retries given up")] == summary(warnings)
    assert {"attempts": 3, "error_type": "pynector.ConnectError"} == {
        key: warnings[0]["extra"][key] for key in ("attempts", "error_type")
    }


async def test_no_warning_when_nothing_was_retryable() -> None:
    """A non-retryable failure, or a policy without retries, is not 'giving up': no WARNING."""

    def not_found(data: Any, **options: Any) -> Any:
        raise pynector.NotFoundError("no such item", status_code=404)

    with capture_logs("DEBUG") as records:
        async with memory_client(not_found) as client:
            with pytest.raises(pynector.NotFoundError):
                await client.request_with_retry(1, max_retries=3)
        async with memory_client(refuse) as client:
            with pytest.raises(pynector.ConnectError):
                await client.request_with_retry(1, max_retries=0)
    assert [] == [r for r in records if r["level"].name == "WARNING"]


async def test_retry_deadline_is_reported_as_giving_up(autojump_clock: Any) -> None:
    """A retry whose wait would pass the policy deadline gives up with a WARNING."""
    policy = pynector.RetryPolicy(max_retries=5, initial_delay=10.0, jitter=0.0, timeout=5.0)
    with capture_logs("WARNING") as records:
        async with memory_client(refuse) as client:
            with pytest.raises(pynector.ConnectError):
                await client.request_with_retry(1, retry=policy)
    assert [("WARNING", "pynector retries given up")] == summary(records)


async def test_batch_event_counts_outcomes() -> None:
    """A batch emits one DEBUG event with its successes, failures and timeouts."""

    def odd_fails(data: int, **options: Any) -> int:
        if data % 2:
            raise ConnectionRefusedError("refused")
        return data

    with capture_logs("DEBUG") as records:
        async with memory_client(odd_fails) as client:
            await client.batch_request([(i, {}) for i in range(5)])
    (batch,) = [r for r in records if r["message"] == "pynector batch finished"]
    assert {"successes": 3, "failures": 2, "timeouts": 0} == {
        key: batch["extra"][key] for key in ("successes", "failures", "timeouts")
    }


async def test_configure_telemetry_log_level_filters_debug_events(autojump_clock: Any) -> None:
    """configure_telemetry(log_level="INFO") enables pynector but keeps per-attempt DEBUG events out."""
    pynector.configure_telemetry(trace_enabled=False, log_level="INFO")
    records: list[dict[str, Any]] = []
    sink = logger.add(lambda message: records.append(message.record), level="DEBUG")
    try:
        async with memory_client(refuse) as client:
            with pytest.raises(pynector.ConnectError):
                await client.request_with_retry(1, max_retries=1, retry_delay=0.5)
    finally:
        logger.remove(sink)
    assert [("WARNING", "pynector retries given up")] == summary(records)


async def test_misconfiguration_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """configure_telemetry() warns when OTEL_SDK_DISABLED overrides trace_enabled=True."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    with capture_logs("WARNING") as records:
        assert pynector.configure_telemetry(trace_enabled=True, log_level="WARNING") is None
    (record,) = records
    assert "OTEL_SDK_DISABLED=true overrides trace_enabled=True" in record["message"]


async def test_cancelled_attempt_event(autojump_clock: Any) -> None:
    """A cancelled attempt emits a DEBUG event with outcome `cancelled`."""

    async def stuck(data: Any, **options: Any) -> Any:
        await trio.sleep_forever()

    with capture_logs("DEBUG") as records:
        async with memory_client(stuck) as client:
            with trio.move_on_after(1):
                await client.request(1)
    assert ["cancelled"] == [r["extra"]["outcome"] for r in records]
