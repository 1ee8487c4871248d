"""HTTP attempts are traced with the HTTP semantic conventions and propagate W3C trace context."""

from __future__ import annotations

from helpers.telemetry import in_memory_tracing

import pynector
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server


async def answer(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    return HTTPResponse(404 if request.path == "/missing" else 200)


async def test_attempt_span_and_traceparent(http_engine: str) -> None:
    """The attempt span is named by the method, carries redacted HTTP attributes, and reaches the server."""
    with in_memory_tracing() as (provider, exporter):
        async with (
            open_http_server(answer) as server,
            pynector.Pynector(
                transport_type=http_engine, base_url=server.url, tracer_provider=provider
            ) as client,
        ):
            await client.request({"method": "POST", "url": "/items?token=t0psecret&page=1", "json": {}})
        (span,) = exporter.get_finished_spans()
    assert "POST" == span.name
    attributes = dict(span.attributes or {})
    assert f"{server.url}/items?token=REDACTED&page=1" == attributes["url.full"]
    assert ("POST", "127.0.0.1", server.port, 200) == (
        attributes["http.request.method"],
        attributes["server.address"],
        attributes["server.port"],
        attributes["http.response.status_code"],
    )
    traceparent = server.requests[0].header("traceparent")
    assert traceparent is not None
    assert f"{span.context.trace_id:032x}" == traceparent.split("-")[1]


async def test_no_traceparent_without_a_span(http_engine: str) -> None:
    """Without a recording span nothing is injected."""
    async with (
        open_http_server(answer) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, enable_telemetry=False) as client,
    ):
        await client.request("/")
    assert server.requests[0].header("traceparent") is None
