"""Observability: spans, log events and statistics of a pynector client, offline.

Runs a batch and a retried request through the in-process memory transport with an OpenTelemetry
SDK provider (in-memory exporter) and a loguru sink, then prints the span tree, the events and the
client's statistics. Needs the ``otel`` extra: ``pip install 'pynector-trio[otel]'``.

Run: ``python examples/observability.py``
"""

from __future__ import annotations

import sys
from typing import Any

import trio
from loguru import logger
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import pynector

calls = 0


def inventory(item: str, **options: Any) -> dict[str, Any]:
    """A stand-in service: the first call fails, as a flaky network would."""
    global calls
    calls += 1
    if calls == 1:
        raise ConnectionResetError("connection reset by peer")
    return {"item": item, "in_stock": len(item) % 3}


async def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    # The application decides where pynector's events go: pynector itself never adds a handler.
    sink = logger.add(sys.stdout, level="DEBUG", format="{level: <7} {message} {extra}")
    logger.enable("pynector")
    try:
        async with pynector.Pynector(
            transport_type="memory", handler=inventory, tracer_provider=provider
        ) as client:
            await client.request_with_retry("apples", retry_delay=0.01)
            await client.batch_request([(item, {}) for item in ("pears", "plums", "figs")], max_concurrency=2)
            print(client.statistics())
    finally:
        logger.disable("pynector")
        logger.remove(sink)

    spans = exporter.get_finished_spans()
    children: dict[int | None, list[Any]] = {}
    for span in spans:
        children.setdefault(span.parent.span_id if span.parent else None, []).append(span)

    def show(parent: int | None, depth: int) -> None:
        for span in children.get(parent, []):
            attempt = (span.attributes or {}).get("http.request.resend_count")
            extra = f" (resend {attempt})" if attempt else ""
            print(f"{'  ' * depth}{span.name} [{span.kind.name}] {span.status.status_code.name}{extra}")
            show(span.context.span_id, depth + 1)

    show(None, 0)
    provider.shutdown()


if __name__ == "__main__":
    trio.run(main)
