"""Helpers shared by the telemetry, logging and statistics tests. Log records are captured with the
public ``pynector.testing.capture_logs``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from loguru import logger
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from pynector import _telemetry_config


def reset_global_telemetry() -> None:
    """Forget any global tracer provider and any configure_telemetry() call (test isolation only)."""
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    _telemetry_config._reset_configuration()
    logger.disable("pynector")


@contextlib.contextmanager
def in_memory_tracing() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """An SDK provider exporting synchronously to an in-memory exporter (not installed globally)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider, exporter
    finally:
        provider.shutdown()


def spans_named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    """The finished spans called *name*, in end order."""
    return [span for span in exporter.get_finished_spans() if span.name == name]


def everything_recorded(exporter: InMemorySpanExporter | None, records: list[dict[str, Any]]) -> str:
    """All text a telemetry consumer could see: span names, attributes, events, statuses, log records."""
    parts: list[str] = []
    if exporter is not None:
        for span in exporter.get_finished_spans():
            parts.append(span.to_json())
    for record in records:
        parts.append(str(record["message"]))
        parts.append(repr(record["extra"]))
        if record["exception"] is not None:
            parts.append(repr(record["exception"]))
    return "\n".join(parts)
