"""Telemetry across the integrated product: streams, streaming batches, batch retries, HTTP engines,
stream transports, and ``enable_telemetry=False``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
from helpers.telemetry import spans_named
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

import pynector
from pynector.testing import (
    HTTPRequest,
    HTTPResponse,
    HTTPServer,
    ServerConnection,
    capture_logs,
    open_http_server,
    serve_tcp,
)

pytestmark = pytest.mark.usefixtures("clean_telemetry_globals")


def attrs(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes as a plain dict."""
    return dict(span.attributes or {})


@asynccontextmanager
async def served_client(
    http_engine: str, **options: Any
) -> AsyncIterator[tuple[HTTPServer, pynector.Pynector]]:
    """A loopback server answering with :func:`answer`, and a client of *http_engine* pointed at it."""
    async with (
        open_http_server(answer) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, **options) as client,
    ):
        yield server, client


FLAKY: dict[str, int] = {}


async def answer(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """/missing: 404; /flaky: 503 on the first call; /hang: never answers; else 200 with a body."""
    if request.path == "/missing":
        return HTTPResponse(404)
    if request.path.startswith("/flaky"):
        FLAKY[request.path] = FLAKY.get(request.path, 0) + 1
        if FLAKY[request.path] == 1:
            return HTTPResponse(503, [("Retry-After", "0")])
    if request.path == "/hang":
        await conn.wait_client_close()
    return HTTPResponse(200, body=[b"chunk-1 ", b"chunk-2"])


# --- Pynector.stream() ---------------------------------------------------------------------------


async def test_http_stream_is_one_client_span_covering_the_block(tracing: Any, http_engine: str) -> None:
    """A streamed HTTP response gets a CLIENT span that ends when the block exits, and a traceparent."""
    provider, exporter = tracing
    async with served_client(http_engine, tracer_provider=provider) as (server, client):
        async with client.stream("/stream?api_key=hush") as response:
            assert () == exporter.get_finished_spans()
            assert 1 == client.statistics().in_flight
            assert b"chunk-1 chunk-2" == await response.aread()
        stats = client.statistics()
    (span,) = exporter.get_finished_spans()
    assert ("GET", SpanKind.CLIENT, StatusCode.UNSET) == (span.name, span.kind, span.status.status_code)
    expected = {
        "http.request.method": "GET",
        "url.full": f"{server.url}/stream?api_key=REDACTED",
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "http.response.status_code": 200,
    }
    assert expected == {key: attrs(span).get(key) for key in expected}
    traceparent = server.requests[0].header("traceparent")
    assert traceparent is not None
    assert f"{span.context.trace_id:032x}-{span.context.span_id:016x}" == "-".join(
        traceparent.split("-")[1:3]
    )
    assert (0, 1, 0) == (stats.in_flight, stats.completed, stats.failed)


async def test_http_stream_status_error_and_timeout_are_failures(
    tracing: Any, http_engine: str, autojump_clock: trio.testing.MockClock
) -> None:
    """A status error on entry and a stream that outlives its timeout end the span with an error."""
    provider, exporter = tracing
    async with served_client(http_engine, tracer_provider=provider) as (_server, client):
        with pytest.raises(pynector.HTTPStatusError):
            async with client.stream("/missing"):
                pass  # pragma: no cover - raised on entry

        async def read_slowly() -> None:
            async with client.stream("/stream", timeout=5) as response:
                await trio.sleep(10)
                await response.aread()  # pragma: no cover

        with pytest.raises(pynector.TimeoutError):
            await read_slowly()
        stats = client.statistics()
    missing, slow = exporter.get_finished_spans()
    assert ("404", 404) == (attrs(missing)["error.type"], attrs(missing)["http.response.status_code"])
    assert "pynector.TimeoutError" == attrs(slow)["error.type"]
    assert [StatusCode.ERROR, StatusCode.ERROR] == [missing.status.status_code, slow.status.status_code]
    assert (0, 0, 2, 1) == (stats.in_flight, stats.completed, stats.failed, stats.timed_out)


async def test_cancelled_stream_is_not_an_error(tracing: Any, http_engine: str) -> None:
    """Cancelling the block ends the stream's span without an error status and counts no failure."""
    provider, exporter = tracing
    async with served_client(http_engine, tracer_provider=provider) as (_server, client):
        with trio.CancelScope() as scope:
            async with client.stream("/stream"):
                scope.cancel()
                await trio.lowlevel.checkpoint()
        stats = client.statistics()
    (span,) = exporter.get_finished_spans()
    assert StatusCode.UNSET == span.status.status_code
    assert "error.type" not in attrs(span)
    assert (0, 0, 0) == (stats.in_flight, stats.completed, stats.failed)


async def test_callers_code_in_the_stream_block_is_not_inside_the_client_span(tracing: Any) -> None:
    """A span the caller starts inside the block is a sibling of the attempt span, and its error marks it."""
    provider, exporter = tracing
    tracer = provider.get_tracer("app")
    async with (
        open_http_server(answer) as server,
        pynector.Pynector(base_url=server.url, tracer_provider=provider) as client,
    ):

        async def buggy_block() -> None:
            async with client.stream("/stream"):
                with tracer.start_as_current_span("app.inner"):
                    pass
                raise ValueError("app bug")

        with tracer.start_as_current_span("app.work") as outer, pytest.raises(ValueError, match="app bug"):
            await buggy_block()
    (inner,) = spans_named(exporter, "app.inner")
    (attempt,) = spans_named(exporter, "GET")
    assert inner.parent is not None
    assert attempt.parent is not None
    assert outer.get_span_context().span_id == inner.parent.span_id == attempt.parent.span_id
    assert "ValueError" == attrs(attempt)["error.type"]


async def test_stream_logs_one_attempt_event(http_engine: str) -> None:
    """A stream produces the same DEBUG attempt event as a request."""
    async with served_client(http_engine) as (_server, client):
        with capture_logs("DEBUG") as records:
            async with client.stream("/stream") as response:
                await response.aread()
    assert ["pynector attempt succeeded"] == [r["message"] for r in records]
    assert "ok" == records[0]["extra"]["outcome"]


# --- stream_batch and batch retries --------------------------------------------------------------


def echo(data: Any, **options: Any) -> Any:
    return data


async def slow_echo(data: int, **options: Any) -> int:
    if data == 2:
        raise ConnectionRefusedError("refused")
    await trio.sleep(data)
    return data


async def test_stream_batch_has_a_parent_span_and_statistics(tracing: Any, autojump_clock: Any) -> None:
    """stream_batch is observed like batch_request: parent span, counts, timeouts in statistics."""
    provider, exporter = tracing
    async with pynector.Pynector(
        transport_type="memory", handler=slow_echo, tracer_provider=provider
    ) as client:
        seen = {}
        async with client.stream_batch(
            ((i, {}) for i in range(6)), max_concurrency=6, timeout=3.5
        ) as results:
            async for index, result in results:
                seen[index] = result
        stats = client.statistics()
    assert [pynector.TimeoutError, pynector.TimeoutError] == [type(seen[4]), type(seen[5])]
    (batch,) = spans_named(exporter, "pynector.batch")
    attempts = spans_named(exporter, "memory exchange")
    assert 6 == len(attempts)
    assert {batch.context.span_id} == {span.parent.span_id for span in attempts if span.parent}
    expected = {
        "pynector.batch.count": 6,
        "pynector.batch.concurrency": 6,
        "pynector.batch.successes": 3,
        "pynector.batch.failures": 3,
        "pynector.batch.timeouts": 2,
    }
    assert expected == {key: attrs(batch).get(key) for key in expected}
    assert (0, 0, 3, 1, 2) == (stats.in_flight, stats.waiting, stats.completed, stats.failed, stats.timed_out)


async def test_both_batch_forms_report_the_same_counts(tracing: Any) -> None:
    """The same fail_fast batch gives the same span counts through batch_request and stream_batch."""
    provider, exporter = tracing

    async def one_fails(data: int, **options: Any) -> int:
        if data == 1:
            raise ConnectionRefusedError("refused")
        await trio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async with pynector.Pynector(
        transport_type="memory", handler=one_fails, tracer_provider=provider
    ) as client:
        await client.batch_request([(i, {}) for i in range(4)], fail_fast=True)
        async with client.stream_batch([(i, {}) for i in range(4)], fail_fast=True) as results:
            yielded = [pair async for pair in results]
        stats = client.statistics()
    listed, streamed = spans_named(exporter, "pynector.batch")
    keys = (
        "pynector.batch.count",
        "pynector.batch.successes",
        "pynector.batch.failures",
        "pynector.batch.timeouts",
    )
    assert (4, 0, 4, 0) == tuple(attrs(listed)[key] for key in keys)
    # A stream reads lazily: items never read are not results (nor counted).
    assert (len(yielded), 0, len(yielded), 0) == tuple(attrs(streamed)[key] for key in keys)
    assert (2, 0, 0) == (stats.failed, stats.timed_out, stats.waiting)


async def test_leaving_a_stream_batch_early_counts_no_failures(tracing: Any, autojump_clock: Any) -> None:
    """Breaking out of stream_batch ends its span; items cancelled by leaving are not failures."""
    provider, exporter = tracing

    async def sleepy(data: int, **options: Any) -> int:
        await trio.sleep(data + 1)
        return data

    async with pynector.Pynector(transport_type="memory", handler=sleepy, tracer_provider=provider) as client:
        tracer = provider.get_tracer("app")
        async with client.stream_batch([(i, {}) for i in range(5)], max_concurrency=5) as results:
            async for _ in results:
                with tracer.start_as_current_span("app.consumer"):
                    pass
                break
        stats = client.statistics()
    (batch,) = spans_named(exporter, "pynector.batch")
    assert (1, 0, 0) == tuple(
        attrs(batch)[f"pynector.batch.{k}"] for k in ("successes", "failures", "timeouts")
    )
    assert StatusCode.UNSET == batch.status.status_code
    (consumer,) = spans_named(exporter, "app.consumer")
    assert consumer.parent is None, "the caller's block is not inside the batch span"
    assert (0, 0, 0, 0) == (stats.in_flight, stats.waiting, stats.failed, stats.timed_out)


def flaky(failures: int) -> Any:
    calls: dict[Any, int] = {}

    def handler(data: Any, **options: Any) -> Any:
        calls[data] = calls.get(data, 0) + 1
        if calls[data] <= failures:
            raise ConnectionRefusedError("refused")
        return data

    return handler


@pytest.mark.parametrize("form", ["batch_request", "stream_batch"])
async def test_batch_items_retry_like_request_with_retry(
    tracing: Any, autojump_clock: Any, form: str
) -> None:
    """Batch items retried through retry= get retry spans, wait events, resend counts and statistics."""
    provider, exporter = tracing
    policy = pynector.RetryPolicy(max_retries=2, initial_delay=1.0, jitter=0.0)
    async with pynector.Pynector(
        transport_type="memory", handler=flaky(1), tracer_provider=provider
    ) as client:
        with capture_logs("DEBUG") as records:
            if form == "batch_request":
                results = await client.batch_request([("a", {}), ("b", {})], retry=policy)
            else:
                async with client.stream_batch([("a", {}), ("b", {})], retry=policy) as stream:
                    results = [result for _, result in sorted([pair async for pair in stream])]
        stats = client.statistics()
    assert ["a", "b"] == results
    (batch,) = spans_named(exporter, "pynector.batch")
    retries = spans_named(exporter, "pynector.retry")
    attempts = spans_named(exporter, "memory exchange")
    assert 2 == len(retries)
    assert {batch.context.span_id} == {span.parent.span_id for span in retries if span.parent}
    assert [["pynector.retry.wait"], ["pynector.retry.wait"]] == [[e.name for e in r.events] for r in retries]
    assert [None, None, 1, 1] == sorted(
        (attrs(s).get("http.request.resend_count") for s in attempts), key=lambda v: v or 0
    )
    assert 2 == sum(r["message"] == "pynector retry scheduled" for r in records)
    assert (2, 2, 2, 0) == (stats.retried, stats.completed, stats.failed, stats.waiting)


# --- HTTP conventions for both engines -----------------------------------------------------------


async def test_http_error_type_and_resend_count(tracing: Any, http_engine: str) -> None:
    """Both engines: a 503 retried once records error.type, status code, then resend_count 1."""
    provider, exporter = tracing
    FLAKY.clear()
    async with served_client(http_engine, tracer_provider=provider) as (server, client):
        await client.request_with_retry("/flaky-1", retry=pynector.RetryPolicy(initial_delay=0))
        with pytest.raises(pynector.ConnectError):
            await client.request(f"http://127.0.0.1:{await free_port()}/")
    first, second, refused = spans_named(exporter, "GET")
    assert {"error.type": "503", "http.response.status_code": 503} == {
        k: attrs(first).get(k) for k in ("error.type", "http.response.status_code")
    }
    assert StatusCode.ERROR == first.status.status_code
    assert (1, 200, None) == (
        attrs(second)["http.request.resend_count"],
        attrs(second)["http.response.status_code"],
        attrs(second).get("error.type"),
    )
    assert "pynector.ConnectError" == attrs(refused)["error.type"]
    traceparents = [r.header("traceparent") for r in server.requests]
    assert [f"{s.context.span_id:016x}" for s in (first, second)] == [
        t.split("-")[2] for t in traceparents if t
    ]


async def free_port() -> int:
    """A loopback port nothing listens on."""
    sock = trio.socket.socket()
    with sock:
        await sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- enable_telemetry=False ------------------------------------------------------------------------


@pytest.mark.parametrize("enable_telemetry", [False, True])
async def test_trace_propagation_follows_enable_telemetry(
    tracing: Any, http_engine: str, enable_telemetry: bool
) -> None:
    """With a caller's span active, only a telemetry-enabled client sends its trace context."""
    provider, _ = tracing
    tracer = provider.get_tracer("app")
    async with served_client(http_engine, enable_telemetry=enable_telemetry) as (server, client):
        with tracer.start_as_current_span("app.request") as span:
            await client.request("/")
            async with client.stream("/") as response:
                await response.aread()
    traceparents = [request.header("traceparent") for request in server.requests]
    if enable_telemetry:
        # No provider on the client: no pynector span, the caller's own span is propagated.
        trace_id = f"{span.get_span_context().trace_id:032x}"
        assert [trace_id, trace_id] == [t.split("-")[1] for t in traceparents if t]
    else:
        assert [None, None] == traceparents


async def test_propagation_is_decided_per_client_on_a_shared_transport(
    tracing: Any, http_engine: str
) -> None:
    """Inside the caller's span, a disabled client sends no traceparent even in a batch with retries;
    a traced client on the same transport does."""
    provider, exporter = tracing
    tracer = provider.get_tracer("app")
    FLAKY.clear()
    async with (
        open_http_server(answer) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, enable_telemetry=False) as plain,
        pynector.Pynector(transport=plain.transport, tracer_provider=provider) as traced,
    ):
        with tracer.start_as_current_span("app.request"):
            await plain.batch_request([("/flaky-plain", {})], retry=pynector.RetryPolicy(initial_delay=0))
            await traced.request("/traced")
            await plain.request("/plain")
    sent = {(r.path, r.header("traceparent") is not None) for r in server.requests}
    assert {("/flaky-plain", False), ("/traced", True), ("/plain", False)} == sent
    assert ["GET", "app.request"] == [span.name for span in exporter.get_finished_spans()]


async def test_a_transport_object_keeps_its_own_propagation_setting(tracing: Any) -> None:
    """HTTPTransport(propagate_trace_context=False) sends no traceparent, even for a traced client."""
    provider, _ = tracing
    from pynector.http import HTTPTransport, NativeEngine

    async with open_http_server(answer) as server:
        transport = HTTPTransport(NativeEngine(), base_url=server.url, propagate_trace_context=False)
        async with transport, pynector.Pynector(transport=transport, tracer_provider=provider) as client:
            await client.request("/")
    assert None is server.requests[0].header("traceparent")


# --- stream transports -----------------------------------------------------------------------------


def reply(payload: bytes) -> bytes:
    if payload == b"boom":
        raise RuntimeError("server handler failed")
    return b"reply to " + payload


async def test_tcp_attempt_span_attributes(tracing: Any, nursery: trio.Nursery) -> None:
    """tcp spans carry network.transport, the peer and the payload sizes, never the payload."""
    provider, exporter = tracing
    server = await nursery.start(partial(serve_tcp, reply, framing="length"))
    async with pynector.Pynector(
        transport_type="tcp", host="127.0.0.1", port=server.port, framing="length", tracer_provider=provider
    ) as client:
        assert b"reply to hello" == await client.request(b"hello")
        with pytest.raises(pynector.ReadError):
            await client.request(b"boom")
    ok, failed = exporter.get_finished_spans()
    expected = {
        "pynector.transport": "tcp",
        "network.transport": "tcp",
        "pynector.framing": "length",
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "pynector.request.size": 5,
        "pynector.response.size": 14,
    }
    assert ("tcp exchange", SpanKind.CLIENT) == (ok.name, ok.kind)
    assert expected == attrs(ok)
    assert ("pynector.ReadError", StatusCode.ERROR) == (
        attrs(failed)["error.type"],
        failed.status.status_code,
    )


# --- the SDK transport -------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Async generator '(openai|anthropic|httpx2|httpcore2)[._]:ResourceWarning")
@pytest.mark.parametrize("provider_name", ["openai", "anthropic"])
async def test_sdk_spans_follow_the_genai_conventions(
    tracing: Any, nursery: trio.Nursery, provider_name: str
) -> None:
    """SDK calls and token streams are CLIENT spans named `chat <model>` with GenAI attributes and usage."""
    pytest.importorskip(provider_name)
    from helpers.fake_llm_api import FakeLLMAPI

    provider, exporter = tracing
    api = FakeLLMAPI(provider_name)
    await nursery.start(api.serve)
    async with pynector.Pynector(
        transport_type="sdk",
        provider=provider_name,
        api_key="sk-test",
        base_url=api.base_url,
        model="fake-model",
        tracer_provider=provider,
    ) as client:
        await client.request("two words")
        async with client.stream("three more words") as deltas:
            _ = [delta async for delta in deltas]
        stats = client.statistics()
    called, streamed = exporter.get_finished_spans()
    port = int(api.base_url.split(":")[2].split("/")[0])
    for span in (called, streamed):
        assert ("chat fake-model", SpanKind.CLIENT) == (span.name, span.kind)
        expected = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": provider_name,
            "gen_ai.request.model": "fake-model",
            "server.address": "127.0.0.1",
            "server.port": port,
        }
        assert expected == {key: attrs(span).get(key) for key in expected}
        assert attrs(span)["gen_ai.usage.output_tokens"] > 0
    assert (2, 0) == (stats.completed, stats.in_flight)
