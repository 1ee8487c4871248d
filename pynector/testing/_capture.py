"""Capture pynector's log records (loguru) and spans (OpenTelemetry SDK) during a test.

Both are context managers usable with or without pytest; the ``pynector_logs`` and ``pynector_spans``
fixtures are thin wrappers.

Spans: OpenTelemetry lets a process set its global tracer provider once. The first capture installs an
SDK ``TracerProvider`` (or, if the application already installed one, adds to it) with one in-memory
exporter, which every later capture reuses and clears. The SDK is imported inside :func:`capture_spans`
only, so importing this module (and the pytest plugin) never requires it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:  # pragma: no cover - the SDK is optional
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["CapturedLogs", "capture_logs", "capture_spans"]

#: The one in-memory exporter attached to the global tracer provider, once installed.
_exporter: InMemorySpanExporter | None = None


class CapturedLogs(list[dict[str, Any]]):
    """The loguru records pynector emitted, in order (each a loguru ``record`` dict)."""

    @property
    def messages(self) -> list[str]:
        """The message of every record."""
        return [record["message"] for record in self]

    def at_level(self, level: str) -> list[dict[str, Any]]:
        """The records of one level name (``"DEBUG"``, ``"WARNING"``...)."""
        return [record for record in self if record["level"].name == level]


@contextmanager
def capture_logs(level: str | int = "TRACE") -> Iterator[CapturedLogs]:
    """Enable pynector's loguru events inside the block and collect their records.

    pynector disables its loguru events at import (a library never configures logging). This enables
    them, adds a sink that keeps the records of ``pynector`` and its submodules at *level* or above,
    and on exit removes the sink and disables pynector's events again (the library default).

    Raises:
        ValueError: *level* is not a loguru level.
    """
    records = CapturedLogs()

    def sink(message: Any) -> None:
        records.append(message.record)

    sink_id = logger.add(sink, level=level, filter="pynector", format="{message}", catch=False)
    logger.enable("pynector")
    try:
        yield records
    finally:
        logger.remove(sink_id)
        logger.disable("pynector")


@contextmanager
def capture_spans() -> Iterator[InMemorySpanExporter]:
    """Collect the spans finished inside the block in an OpenTelemetry SDK in-memory exporter.

    Yields the exporter, empty; ``exporter.get_finished_spans()`` returns the spans. It is cleared
    again on exit.

    Raises:
        ImportError: the OpenTelemetry SDK is not installed (``pip install 'pynector-trio[otel]'``).
        RuntimeError: the application installed a global tracer provider that is not the SDK's, so
            spans cannot be captured.
    """
    global _exporter
    # Imported on every call (cheap once cached) so that a missing SDK is detected every time.
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    if _exporter is None:
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):
            provider = TracerProvider()
            trace.set_tracer_provider(provider)
        if not isinstance(provider, TracerProvider):
            raise RuntimeError(
                f"cannot capture spans: the global tracer provider is a {type(provider).__name__}, "
                "not an OpenTelemetry SDK TracerProvider"
            )
        exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        _exporter = exporter
    _exporter.clear()
    try:
        yield _exporter
    finally:
        _exporter.clear()
