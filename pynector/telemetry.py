"""Telemetry helpers at the path of the original design: ``pynector.telemetry``.

:func:`configure_telemetry` is the same function as ``pynector.configure_telemetry``.
:func:`get_telemetry` is the original design's facade: a tracer and a logger for a component of your
own, so code written against that design keeps running. Pynector's clients do not need it (they trace
and log by themselves, see the README's "Observability" section).
"""

from __future__ import annotations

from typing import Any

from loguru import logger
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Tracer

from ._telemetry_config import configure_telemetry as configure_telemetry

__all__ = ["configure_telemetry", "get_telemetry"]


def get_telemetry(name: str) -> tuple[Tracer, Any]:
    """Return ``(tracer, logger)`` for the component *name*.

    The tracer is OpenTelemetry's tracer for instrumentation scope *name*: it records spans once a
    tracer provider is installed (for instance by :func:`configure_telemetry`), including one installed
    after this call, and costs next to nothing until then. The logger is loguru's logger bound with
    ``name=<name>``; keyword arguments of a call land in the record's ``extra`` fields
    (``logger.info("request.start", data_size=3)``), structlog style. Where the events go is decided by
    the application's loguru handlers.

    Args:
        name: the component's name, such as ``"myapp.fetcher"``.

    Returns:
        ``(tracer, logger)``. Never blocks.

    Raises:
        pynector.ConfigurationError: if *name* is not a non-empty string.
    """
    from ._errors import ConfigurationError

    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"get_telemetry() needs a non-empty component name, got {name!r}")
    return otel_trace.get_tracer(name), logger.bind(name=name)
