"""The sentinel-secret test across logs AND spans for the tcp and SDK transports, on success, error and
retry paths, and for HTTP streams (HTTP requests are covered by tests/test_http_secrets.py)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
from helpers.fake_llm_api import ANTHROPIC, OPENAI, FakeLLMAPI, Reply, Request
from helpers.telemetry import everything_recorded
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import pynector
from pynector.testing import (
    HTTPRequest,
    HTTPResponse,
    ServerConnection,
    capture_logs,
    open_http_server,
    serve_tcp,
)

SECRET = "sentinel-2b8e41f07c"


pytestmark = pytest.mark.usefixtures("clean_telemetry_globals")


def assert_recorded_nothing_secret(exporter: InMemorySpanExporter, records: list[dict[str, Any]]) -> None:
    """Spans and log records were produced, and none of them shows the secret."""
    recorded = everything_recorded(exporter, records)
    assert exporter.get_finished_spans(), "no span recorded"
    assert records, "no log record"
    assert SECRET not in recorded


async def test_tcp_secret_in_payloads_never_recorded(
    tracing: Any, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Payloads, replies and handler errors holding a secret reach no span or log record."""
    provider, exporter = tracing
    calls = 0

    def handler(payload: bytes) -> bytes:
        nonlocal calls
        calls += 1
        if payload.startswith(b"fail") or (payload.startswith(b"flaky") and calls % 2):
            raise RuntimeError(f"handler failed on {payload!r}")  # closes the connection
        return b"reply " + payload

    server = await nursery.start(partial(serve_tcp, handler, framing="length"))
    secret = SECRET.encode()
    policy = pynector.RetryPolicy(max_retries=1, initial_delay=1.0)
    with capture_logs("DEBUG") as records:
        async with pynector.Pynector(
            transport_type="tcp",
            host="127.0.0.1",
            port=server.port,
            framing="length",
            tracer_provider=provider,
        ) as client:
            assert b"reply ok " + secret == await client.request(b"ok " + secret)
            calls = 0
            assert b"reply flaky " + secret == await client.request_with_retry(
                b"flaky " + secret, retry=policy
            )
            with pytest.raises(pynector.ReadError) as info:
                await client.request_with_retry(b"fail " + secret, retry=policy)
            assert 2 == info.value.attempts
    assert_recorded_nothing_secret(exporter, records)
    assert SECRET not in str(info.value)


sdk_warnings = pytest.mark.filterwarnings(
    "ignore:Async generator '(openai|anthropic|httpx2|httpcore2)[._]:ResourceWarning"
)


@sdk_warnings
@pytest.mark.parametrize("provider_name", [OPENAI, ANTHROPIC])
async def test_sdk_api_key_never_recorded(
    tracing: Any, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, provider_name: str
) -> None:
    """The API key, echoed back by the server, reaches no span or log record on any path."""
    pytest.importorskip(provider_name)
    provider, exporter = tracing
    api = FakeLLMAPI(provider_name)
    await nursery.start(api.serve)
    rate_limited_once = True

    def script(request: Request) -> Reply | None:
        nonlocal rate_limited_once
        if request.prompt == "retry" and rate_limited_once:
            rate_limited_once = False
            return Reply(status=429, headers={"retry-after": "1"}, message=f"slow down {SECRET}")
        if request.prompt in ("denied", "broken"):
            status = 401 if request.prompt == "denied" else 500
            return Reply(status=status, message=f"Incorrect API key provided: {SECRET}")
        return None

    api.script = script
    with capture_logs("DEBUG") as records:
        async with pynector.Pynector(
            transport_type="sdk",
            provider=provider_name,
            api_key=SECRET,
            base_url=api.base_url,
            model="m",
            tracer_provider=provider,
        ) as client:
            await client.request("warm up")  # the SDKs start a thread once: not under the mock clock
            await client.request_with_retry("retry")
            async with client.stream("streamed") as deltas:
                _ = [delta async for delta in deltas]
            with pytest.raises(pynector.UnauthorizedError):
                await client.request("denied")
            with pytest.raises(pynector.PynectorError):
                await client.request_with_retry("broken", max_retries=1, retry_delay=1.0)
    assert_recorded_nothing_secret(exporter, records)
    assert {"pynector.retry.wait"} <= {
        event.name for span in exporter.get_finished_spans() for event in span.events
    }


async def answer(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """/fail: 500 with the secret in a cookie and the body; else 200 with it in a cookie."""
    status = 500 if request.path == "/fail" else 200
    return HTTPResponse(status, [("Set-Cookie", f"s={SECRET}")], body=f"body {SECRET}")


async def test_http_streams_record_no_secret(tracing: Any, http_engine: str) -> None:
    """Streamed HTTP requests (header, URL user-info, query secrets) leave no secret in spans or logs."""
    provider, exporter = tracing
    async with open_http_server(answer) as server:
        base = f"http://user:{SECRET}@127.0.0.1:{server.port}"
        with capture_logs("DEBUG") as records:
            async with pynector.Pynector(
                transport_type=http_engine,
                headers={"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET},
                secret_headers=["X-Api-Key"],
                tracer_provider=provider,
            ) as client:
                async with client.stream(f"{base}/ok?token={SECRET}") as response:
                    assert f"body {SECRET}".encode() == await response.aread()
                with pytest.raises(pynector.HTTPServerError):
                    async with client.stream(f"{base}/fail?api_key={SECRET}"):
                        pass  # pragma: no cover - raised on entry
    assert f"Bearer {SECRET}" == server.requests[0].header("authorization")
    assert_recorded_nothing_secret(exporter, records)
