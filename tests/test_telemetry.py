"""OpenTelemetry spans: one CLIENT span per attempt, batch and retry parents, hooks, configuration."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Mapping
from typing import Any

import pytest
import trio
from helpers.telemetry import (
    everything_recorded,
    in_memory_tracing,
    spans_named,
)
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import pynector
from pynector._telemetry import inject_trace_context
from pynector.testing import capture_logs

pytestmark = pytest.mark.usefixtures("clean_telemetry_globals")


def echo(data: Any, **options: Any) -> Any:
    return data


def memory_client(provider: TracerProvider | None, handler: Any = echo, **kwargs: Any) -> pynector.Pynector:
    return pynector.Pynector(transport_type="memory", handler=handler, tracer_provider=provider, **kwargs)


async def test_attempt_span_name_kind_scope_and_attributes(tracing: Any) -> None:
    """A request records one CLIENT span named by the transport, in the `pynector` scope."""
    provider, exporter = tracing
    async with memory_client(provider) as client:
        assert 7 == await client.request(7)
    (span,) = exporter.get_finished_spans()
    assert "memory exchange" == span.name
    assert SpanKind.CLIENT == span.kind
    assert ("pynector", pynector.__version__) == (
        span.instrumentation_scope.name,
        span.instrumentation_scope.version,
    )
    assert {"pynector.transport": "memory", "network.transport": "inproc"} == dict(span.attributes or {})
    assert StatusCode.UNSET == span.status.status_code


def refuse(data: Any, **options: Any) -> Any:
    """A memory handler whose every attempt is refused (a ConnectError to the client)."""
    raise ConnectionRefusedError("refused")


async def test_failed_attempt_has_error_status_and_type(tracing: Any) -> None:
    """A failed attempt's span has ERROR status and `error.type` naming the pynector exception."""
    provider, exporter = tracing

    async with memory_client(provider, refuse) as client:
        with pytest.raises(pynector.ConnectError):
            await client.request(1)
    (span,) = exporter.get_finished_spans()
    assert StatusCode.ERROR == span.status.status_code
    assert "pynector.ConnectError" == (span.attributes or {})["error.type"]


async def test_status_error_sets_status_code_attributes(tracing: Any) -> None:
    """An HTTPStatusError sets `http.response.status_code` and `error.type` to the status code."""
    provider, exporter = tracing

    def unavailable(data: Any, **options: Any) -> Any:
        raise pynector.HTTPServerError("service unavailable", status_code=503)

    async with memory_client(provider, unavailable) as client:
        with pytest.raises(pynector.HTTPServerError):
            await client.request(1)
    (span,) = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert (503, "503") == (attributes["http.response.status_code"], attributes["error.type"])
    assert StatusCode.ERROR == span.status.status_code


async def stuck(data: Any, **options: Any) -> Any:
    """A memory handler that never answers."""
    await trio.sleep_forever()


async def test_timeout_is_an_error(tracing: Any, autojump_clock: Any) -> None:
    """An attempt exceeding its timeout ends with ERROR status and `pynector.TimeoutError`."""
    provider, exporter = tracing

    async with memory_client(provider, stuck) as client:
        with pytest.raises(pynector.TimeoutError):
            await client.request(1, timeout=2)
    (span,) = exporter.get_finished_spans()
    assert "pynector.TimeoutError" == (span.attributes or {})["error.type"]
    assert StatusCode.ERROR == span.status.status_code


async def test_cancellation_is_not_an_error(tracing: Any, autojump_clock: Any) -> None:
    """A cancelled attempt's span ends without error status or `error.type`."""
    provider, exporter = tracing

    async with memory_client(provider, stuck) as client:
        with trio.move_on_after(1) as scope:
            await client.request(1)
    assert scope.cancelled_caught
    (span,) = exporter.get_finished_spans()
    assert StatusCode.UNSET == span.status.status_code
    assert "error.type" not in (span.attributes or {})


async def test_batch_span_is_parent_of_every_attempt(tracing: Any) -> None:
    """Attempt spans in batch worker tasks are children of the `pynector.batch` span."""
    provider, exporter = tracing

    def maybe_fail(data: int, **options: Any) -> int:
        if data == 3:
            raise ConnectionRefusedError("refused")
        return data

    async with memory_client(provider, maybe_fail) as client:
        results = await client.batch_request([(i, {}) for i in range(6)], max_concurrency=2)
    assert isinstance(results[3], pynector.ConnectError)
    (batch,) = spans_named(exporter, "pynector.batch")
    attempts = spans_named(exporter, "memory exchange")
    assert 6 == len(attempts)
    assert {batch.context.span_id} == {span.parent.span_id for span in attempts if span.parent}
    assert {batch.context.trace_id} == {span.context.trace_id for span in attempts}
    assert SpanKind.INTERNAL == batch.kind
    expected = {
        "pynector.batch.count": 6,
        "pynector.batch.concurrency": 2,
        "pynector.batch.successes": 5,
        "pynector.batch.failures": 1,
        "pynector.batch.timeouts": 0,
    }
    assert expected == {key: (batch.attributes or {})[key] for key in expected}
    assert StatusCode.UNSET == batch.status.status_code


async def test_batch_inside_caller_span_joins_callers_trace(tracing: Any) -> None:
    """A span the caller started around a batch is the parent of the batch span, and so of its attempts."""
    provider, exporter = tracing
    tracer = provider.get_tracer("app")
    async with memory_client(provider) as client:
        with tracer.start_as_current_span("handle order") as outer:
            await client.batch_request([(i, {}) for i in range(3)], max_concurrency=3)
    (batch,) = spans_named(exporter, "pynector.batch")
    assert batch.parent is not None
    assert outer.get_span_context().span_id == batch.parent.span_id
    trace_ids = {span.context.trace_id for span in exporter.get_finished_spans()}
    assert {outer.get_span_context().trace_id} == trace_ids


async def test_batch_deadline_counts_timeouts_without_error(tracing: Any, autojump_clock: Any) -> None:
    """Items cut off by the batch deadline are counted as timeouts; their attempts are not errors."""
    provider, exporter = tracing

    async def slow_for_odd(data: int, **options: Any) -> int:
        if data % 2:
            await trio.sleep_forever()
        return data

    async with memory_client(provider, slow_for_odd) as client:
        results = await client.batch_request([(i, {}) for i in range(4)], timeout=5)
    assert [0, 2] == [r for r in results if not isinstance(r, Exception)]
    (batch,) = spans_named(exporter, "pynector.batch")
    assert (2, 2, 2) == tuple(
        (batch.attributes or {})[f"pynector.batch.{key}"] for key in ("successes", "failures", "timeouts")
    )
    cut = [s for s in spans_named(exporter, "memory exchange") if s.status.status_code != StatusCode.UNSET]
    assert [] == cut


async def test_batch_raise_on_error_marks_batch_span(tracing: Any) -> None:
    """With raise_on_error the batch span records the error it raised."""
    provider, exporter = tracing

    async with memory_client(provider, refuse) as client:
        with pytest.raises(pynector.ConnectError):
            await client.batch_request([(1, {})], raise_on_error=True)
    (batch,) = spans_named(exporter, "pynector.batch")
    assert StatusCode.ERROR == batch.status.status_code


def flaky(failures: int) -> Any:
    calls = 0

    def handler(data: Any, **options: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls <= failures:
            raise ConnectionRefusedError("refused")
        return data

    return handler


async def test_retry_span_events_and_resend_count(tracing: Any, autojump_clock: Any) -> None:
    """A retried request has a `pynector.retry` parent, a wait event per retry and resend counts."""
    provider, exporter = tracing
    policy = pynector.RetryPolicy(max_retries=3, initial_delay=1.0, jitter=0.0)
    async with memory_client(provider, flaky(2)) as client:
        assert "ok" == await client.request_with_retry("ok", retry=policy)
    (retry,) = spans_named(exporter, "pynector.retry")
    attempts = spans_named(exporter, "memory exchange")
    assert [None, 1, 2] == [(s.attributes or {}).get("http.request.resend_count") for s in attempts]
    assert {retry.context.span_id} == {s.parent.span_id for s in attempts if s.parent}
    waits = [(e.name, dict(e.attributes or {})) for e in retry.events]
    assert [
        (
            "pynector.retry.wait",
            {
                "pynector.retry.attempt": 1,
                "pynector.retry.wait_s": 1.0,
                "error.type": "pynector.ConnectError",
            },
        ),
        (
            "pynector.retry.wait",
            {
                "pynector.retry.attempt": 2,
                "pynector.retry.wait_s": 2.0,
                "error.type": "pynector.ConnectError",
            },
        ),
    ] == waits
    assert 3 == (retry.attributes or {})["pynector.retry.attempts"]
    assert StatusCode.UNSET == retry.status.status_code


async def test_retry_given_up_is_recorded(tracing: Any, autojump_clock: Any) -> None:
    """Exhausted retries add a `given_up` event and an ERROR status on the retry span."""
    provider, exporter = tracing
    policy = pynector.RetryPolicy(max_retries=2, initial_delay=1.0, jitter=0.0)
    async with memory_client(provider, flaky(99)) as client:
        with pytest.raises(pynector.ConnectError):
            await client.request_with_retry("x", retry=policy)
    (retry,) = spans_named(exporter, "pynector.retry")
    assert "pynector.retry.given_up" == retry.events[-1].name
    assert StatusCode.ERROR == retry.status.status_code
    assert 3 == (retry.attributes or {})["pynector.retry.attempts"]


async def test_global_provider_installed_after_client_is_honoured() -> None:
    """A client without tracer_provider starts recording once a global provider is installed."""
    async with memory_client(None) as client:
        await client.request(1)
        with in_memory_tracing() as (provider, exporter):
            trace.set_tracer_provider(provider)
            await client.request(2)
            assert ["memory exchange"] == [span.name for span in exporter.get_finished_spans()]


async def test_telemetry_disabled_records_nothing(tracing: Any) -> None:
    """`enable_telemetry=False` produces no span even with a provider."""
    provider, exporter = tracing
    async with memory_client(provider, enable_telemetry=False) as client:
        await client.request(1)
        await client.batch_request([(1, {})])
    assert () == tuple(exporter.get_finished_spans())


class HookedTransport:
    """A transport implementing the TracedTransport hooks and propagating the trace context."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def exchange(self, data: Any, **options: Any) -> dict[str, int]:
        headers: dict[str, str] = {}
        inject_trace_context(headers)
        self.headers.append(headers)
        await trio.lowlevel.checkpoint()
        return {"status": 201}

    def span_name(self, data: Any, options: Mapping[str, Any]) -> str:
        return "POST"

    def span_attributes(self, data: Any, options: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"http.request.method": "POST", "server.address": "127.0.0.1", "server.port": 8080}

    def response_span_attributes(self, response: Any) -> Mapping[str, Any]:
        return {"http.response.status_code": response["status"]}


async def test_transport_hooks_name_and_attribute_the_span(tracing: Any) -> None:
    """The transport's hooks provide the span name and request/response attributes."""
    provider, exporter = tracing
    async with pynector.Pynector(transport=HookedTransport(), tracer_provider=provider) as client:
        await client.request(b"body")
    (span,) = exporter.get_finished_spans()
    assert "POST" == span.name
    expected = {
        "pynector.transport": "HookedTransport",
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": 8080,
        "http.response.status_code": 201,
    }
    assert expected == dict(span.attributes or {})


async def test_traceparent_inside_exchange_names_the_attempt_span(tracing: Any) -> None:
    """inject_trace_context() during exchange() propagates the attempt span (W3C traceparent)."""
    provider, exporter = tracing
    transport = HookedTransport()
    async with pynector.Pynector(transport=transport, tracer_provider=provider) as client:
        await client.request(b"body")
    (span,) = exporter.get_finished_spans()
    context = span.get_span_context()
    expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert expected == transport.headers[0]["traceparent"]


class BrokenHooks(HookedTransport):
    def span_attributes(self, data: Any, options: Mapping[str, Any]) -> Mapping[str, Any]:
        raise RuntimeError("hook bug")

    def response_span_attributes(self, response: Any) -> Mapping[str, Any]:
        raise RuntimeError("hook bug")


async def test_failing_hook_never_breaks_the_request(tracing: Any) -> None:
    """A transport hook that raises costs its attributes, not the request."""
    provider, exporter = tracing
    async with pynector.Pynector(transport=BrokenHooks(), tracer_provider=provider) as client:
        assert {"status": 201} == await client.request(b"body")
    (span,) = exporter.get_finished_spans()
    assert {"pynector.transport": "BrokenHooks"} == dict(span.attributes or {})


def test_inject_trace_context_writes_traceparent_for_the_current_span(tracing: Any) -> None:
    """inject_trace_context() adds the W3C traceparent of the current span, and nothing without one."""
    provider, _ = tracing
    empty: dict[str, str] = {}
    inject_trace_context(empty)
    assert {} == empty
    with provider.get_tracer("app").start_as_current_span("outer") as span:
        headers = {"accept": "application/json"}
        inject_trace_context(headers)
    context = span.get_span_context()
    traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert context.trace_flags.sampled
    expected = {"accept": "application/json", "traceparent": traceparent}
    assert expected == headers


SECRET = "s3cr3t-SENTINEL-7f2a"


async def test_sentinel_secret_never_reaches_spans_or_logs(tracing: Any, autojump_clock: Any) -> None:
    """A secret in payloads and options appears in no span and no log record: success, error, retry."""
    provider, exporter = tracing
    options = {"headers": {"Authorization": f"Bearer {SECRET}"}, "api_key": SECRET}
    payload = {"password": SECRET}
    retry_handler = flaky(1)

    def handler(data: Any, **opts: Any) -> Any:
        if opts.get("mode") == "fail":
            raise ConnectionRefusedError("refused")
        if opts.get("mode") == "retry":
            return retry_handler(data)
        return "ok"

    policy = pynector.RetryPolicy(max_retries=2, initial_delay=1.0, jitter=0.0)
    with capture_logs("DEBUG") as records:
        async with memory_client(provider, handler) as client:
            await client.request(payload, **options)
            with pytest.raises(pynector.ConnectError):
                await client.request(payload, mode="fail", **options)
            await client.request_with_retry(payload, retry=policy, mode="retry", **options)
            await client.batch_request([(payload, {"mode": "fail", **options})], **options)
            with pytest.raises(pynector.ConnectError):
                await client.request_with_retry(payload, max_retries=1, mode="fail", **options)
    seen = everything_recorded(exporter, records)
    assert 10 <= len(exporter.get_finished_spans())
    assert 10 <= len(records)
    assert SECRET not in seen


# --- configure_telemetry --------------------------------------------------------------------------


async def test_configure_telemetry_installs_a_global_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """configure_telemetry() installs an SDK provider with the resource and the given exporter."""
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,team=core")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    exporter = InMemorySpanExporter()
    provider = pynector.configure_telemetry(
        service_name="orders", resource_attributes={"team": "payments"}, trace_exporters=[exporter]
    )
    assert provider is trace.get_tracer_provider()
    async with memory_client(None) as client:
        await client.request(1)
    assert isinstance(provider, TracerProvider)
    provider.force_flush()
    (span,) = exporter.get_finished_spans()
    resource = dict(span.resource.attributes)
    expected = {"service.name": "orders", "team": "payments", "deployment.environment": "test"}
    assert expected == {key: resource[key] for key in expected}
    provider.shutdown()


def test_configure_telemetry_honours_otel_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without service_name, OTEL_SERVICE_NAME names the service."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    provider = pynector.configure_telemetry(trace_exporters=["none"], log_level=None)
    assert isinstance(provider, TracerProvider)
    assert "from-env" == provider.resource.attributes["service.name"]
    provider.shutdown()


def test_configure_telemetry_twice_raises() -> None:
    """A second call raises instead of silently doing nothing."""
    provider = pynector.configure_telemetry(trace_exporters=["none"], log_level=None)
    with pytest.raises(pynector.ConfigurationError, match="already called"):
        pynector.configure_telemetry(trace_exporters=["none"], log_level=None)
    assert provider is trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.shutdown()


def test_configure_telemetry_refuses_to_replace_another_global_provider(tracing: Any) -> None:
    """When the application already installed a provider, configure_telemetry() says so."""
    provider, _ = tracing
    trace.set_tracer_provider(provider)
    with pytest.raises(pynector.ConfigurationError, match="already installed"):
        pynector.configure_telemetry(trace_exporters=["none"])
    assert provider is trace.get_tracer_provider()


def test_missing_exporter_is_a_configuration_error_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exporter that is not installed raises ConfigurationError; a corrected call then works."""
    with pytest.raises(pynector.ConfigurationError, match="'zipkin' is not installed"):
        pynector.configure_telemetry(trace_exporters=["zipkin"])
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console,no-such-exporter")
    with pytest.raises(pynector.ConfigurationError, match="'no-such-exporter' is not installed"):
        pynector.configure_telemetry()
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    provider = pynector.configure_telemetry(trace_exporters=["none"])
    assert isinstance(provider, TracerProvider)
    provider.shutdown()


def test_otel_traces_exporter_selects_exporters(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_TRACES_EXPORTER=console installs the SDK's console exporter."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    provider = pynector.configure_telemetry(log_level=None)
    assert isinstance(provider, TracerProvider)
    processors = provider._active_span_processor._span_processors
    assert ["ConsoleSpanExporter"] == [type(p.span_exporter).__name__ for p in processors]  # type: ignore[attr-defined]
    provider.shutdown()


def test_otel_sdk_disabled_turns_tracing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_SDK_DISABLED=true: no provider is installed, even with trace_enabled=True."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert pynector.configure_telemetry(trace_enabled=True, trace_exporters=["none"]) is None
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"log_level": "LOUD"},
        {"service_name": ""},
        {"trace_enabled": "yes"},
        {"resource_attributes": ["team"]},
        {"trace_exporters": "console"},
        {"trace_exporters": [42]},
    ],
)
def test_configure_telemetry_rejects_invalid_arguments(kwargs: dict[str, Any]) -> None:
    """Invalid arguments raise ConfigurationError before anything is installed."""
    with pytest.raises(pynector.ConfigurationError):
        pynector.configure_telemetry(**kwargs)
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


WITHOUT_SDK = textwrap.dedent(
    """
    import sys
    sys.modules["opentelemetry.sdk"] = None  # poison: any import of the SDK fails
    import trio
    import pynector

    async def main():
        async with pynector.Pynector(transport_type="memory", handler=lambda d, **o: d) as client:
            assert 5 == await client.request(5)

    trio.run(main)
    assert pynector.configure_telemetry() is None
    pynector._telemetry_config._reset_configuration()
    try:
        pynector.configure_telemetry(trace_enabled=True)
    except pynector.ConfigurationError as exc:
        print("refused:", exc)
    """
)


def test_import_and_requests_work_without_the_sdk() -> None:
    """With the SDK unimportable, pynector imports, requests work and tracing requests are refused."""
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_SDK], capture_output=True, text=True, timeout=60, check=False
    )
    assert 0 == done.returncode, done.stderr
    assert "refused: tracing needs the OpenTelemetry SDK" in done.stdout


class SeedShaped:
    """A transport in the original send/receive shape, with a span-name hook."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def send(self, data: bytes, **options: Any) -> None:
        self.sent.append(data)

    async def receive(self) -> Any:
        yield self.sent.pop()

    def span_name(self, data: Any, options: Mapping[str, Any]) -> str:
        return "seed exchange"


async def test_hooks_of_a_seed_shaped_transport_are_used(tracing: Any) -> None:
    """The hooks of a send/receive transport are found through the client's serializing adapter."""
    provider, exporter = tracing
    async with pynector.Pynector(transport=SeedShaped(), tracer_provider=provider) as client:
        assert b"ping" == await client.request(b"ping")
    assert ["seed exchange"] == [span.name for span in exporter.get_finished_spans()]


async def test_failing_hook_is_reported_once(tracing: Any) -> None:
    """A hook that keeps failing produces one WARNING event, not one per request."""
    provider, _ = tracing
    with capture_logs("WARNING") as records:
        async with pynector.Pynector(transport=BrokenHooks(), tracer_provider=provider) as client:
            for _ in range(3):
                await client.request(b"body")
    assert ["span_attributes", "response_span_attributes"] == [r["extra"]["hook"] for r in records]


class CountingHooks(HookedTransport):
    """Counts hook calls, to observe whether any span work was done."""

    def __init__(self) -> None:
        super().__init__()
        self.hook_calls = 0

    def span_attributes(self, data: Any, options: Mapping[str, Any]) -> Mapping[str, Any]:
        self.hook_calls += 1
        return {}


@pytest.mark.parametrize("enable_telemetry", [True, False])
async def test_no_span_work_without_a_provider(enable_telemetry: bool) -> None:
    """Without a tracer provider (or with telemetry off) no hook runs and nothing is propagated."""
    transport = CountingHooks()
    async with pynector.Pynector(transport=transport, enable_telemetry=enable_telemetry) as client:
        await client.request(1)
        await client.batch_request([(2, {}), (3, {})])
        await client.request_with_retry(4)
    assert 0 == transport.hook_calls
    assert [{}, {}, {}, {}] == transport.headers


class Tattletale:
    """An option value that records any attempt to turn it into text."""

    def __init__(self) -> None:
        self.rendered = 0

    def __str__(self) -> str:
        self.rendered += 1
        return "tattletale"

    def __repr__(self) -> str:
        self.rendered += 1
        return "tattletale"

    def __format__(self, spec: str) -> str:
        self.rendered += 1
        return "tattletale"


async def test_options_and_payloads_are_never_rendered(tracing: Any, autojump_clock: Any) -> None:
    """With spans and events on, neither payloads nor options are ever converted to text."""
    provider, exporter = tracing
    payload, option = Tattletale(), Tattletale()

    def handler(data: Any, **options: Any) -> Any:
        if options.get("fail"):
            raise ConnectionRefusedError("refused")
        return "ok"

    with capture_logs("DEBUG") as records:
        async with memory_client(provider, handler) as client:
            await client.request(payload, secret=option)
            with pytest.raises(pynector.ConnectError):
                await client.request_with_retry(payload, max_retries=1, fail=True, secret=option)
            await client.batch_request([(payload, {"secret": option})], secret=option)
    assert len(records) >= 5
    assert len(exporter.get_finished_spans()) >= 5
    assert (0, 0) == (payload.rendered, option.rendered)
