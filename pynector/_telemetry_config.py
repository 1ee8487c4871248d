"""``configure_telemetry``: one call at start-up that installs tracing (the OpenTelemetry SDK and its
exporters) and turns pynector's log events on.

A library never configures telemetry by itself; this module is the application's switch. The per-call
hooks it configures live in :mod:`pynector._telemetry`.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Mapping, Sequence
from typing import Any, Final

from loguru import logger
from opentelemetry import trace as otel_trace
from opentelemetry.trace import TracerProvider
from opentelemetry.util.types import AttributeValue

from ._errors import ConfigurationError
from ._telemetry import global_provider_missing, log_threshold, set_log_threshold, warn

__all__ = ["configure_telemetry"]

_configured = False

_EXPORTER_GROUP: Final = "opentelemetry_traces_exporter"
_EXPORTER_HINTS: Final = {
    "otlp": "pip install opentelemetry-exporter-otlp",
    "otlp_proto_grpc": "pip install opentelemetry-exporter-otlp-proto-grpc",
    "otlp_proto_http": "pip install opentelemetry-exporter-otlp-proto-http",
    "zipkin": "pip install opentelemetry-exporter-zipkin",
    "console": "pip install 'pynector-trio[otel]'",
}


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() == "true"


def _load_exporter(name: str) -> Any:
    found = importlib.metadata.entry_points(group=_EXPORTER_GROUP, name=name)
    if not found:
        installed = sorted({ep.name for ep in importlib.metadata.entry_points(group=_EXPORTER_GROUP)})
        hint = _EXPORTER_HINTS.get(name, "install the package that provides it")
        raise ConfigurationError(
            f"trace exporter {name!r} is not installed ({hint}); installed exporters: "
            f"{', '.join(installed) or 'none'}"
        )
    (entry,) = tuple(found)[:1]
    try:
        return entry.load()()
    except Exception as exc:
        raise ConfigurationError(f"trace exporter {name!r} could not be created: {exc}") from exc


def _resolve_exporters(trace_exporters: Sequence[object] | None, warnings: list[str]) -> list[Any]:
    """The exporter objects to install: from the argument, else ``OTEL_TRACES_EXPORTER``, else
    ``otlp`` when it is installed (the OpenTelemetry default), else none with a warning."""
    from opentelemetry.sdk.trace.export import SpanExporter

    if trace_exporters is None:
        env = os.environ.get("OTEL_TRACES_EXPORTER", "").strip()
        if env:
            requested: Sequence[object] = [part.strip() for part in env.split(",") if part.strip()]
        elif importlib.metadata.entry_points(group=_EXPORTER_GROUP, name="otlp"):
            requested = ["otlp"]
        else:
            warnings.append(
                "no trace exporter configured and opentelemetry-exporter-otlp is not installed: spans "
                "are recorded but not exported (set OTEL_TRACES_EXPORTER or trace_exporters=)"
            )
            requested = []
    elif isinstance(trace_exporters, (str, bytes)) or not isinstance(trace_exporters, Sequence):
        raise ConfigurationError(
            "trace_exporters must be a list of exporter names or SpanExporter objects, got "
            f"{type(trace_exporters).__name__}"
        )
    else:
        requested = trace_exporters
    exporters: list[Any] = []
    for item in requested:
        if isinstance(item, SpanExporter):
            exporters.append(item)
        elif isinstance(item, str):
            if item != "none":
                exporters.append(_load_exporter(item))
        else:
            raise ConfigurationError(
                f"trace_exporters items must be exporter names or SpanExporter objects, got "
                f"{type(item).__name__}"
            )
    return exporters


def configure_telemetry(
    service_name: str | None = None,
    resource_attributes: Mapping[str, AttributeValue] | None = None,
    trace_enabled: bool | None = None,
    log_level: str | None = "INFO",
    trace_exporters: Sequence[object] | None = None,
) -> TracerProvider | None:
    """Set up tracing and pynector's log events for an application, in one call at start-up.

    Tracing uses the OpenTelemetry SDK (``pip install 'pynector-trio[otel]'``): an SDK ``TracerProvider``
    whose resource merges ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME``, *resource_attributes* and
    *service_name* (later ones win), one ``BatchSpanProcessor`` per exporter, installed as the global
    provider (so every ``Pynector`` client, and any other instrumented library, uses it).

    Logging: pynector never adds a loguru handler. With *log_level* set, ``logger.enable("pynector")``
    is called and pynector emits only events at or above that level; your handlers decide where they
    go. ``log_level=None`` leaves logging as it is.

    It may be called once per process: OpenTelemetry allows one global tracer provider, and a second
    call that silently did nothing would hide a misconfiguration, so it raises instead. A call that
    raises changes nothing and can be repeated.

    Args:
        service_name: ``service.name`` of the resource (overrides ``OTEL_SERVICE_NAME``).
        resource_attributes: more resource attributes (override ``OTEL_RESOURCE_ATTRIBUTES``).
        trace_enabled: ``False`` skips tracing; ``None`` (default) traces when the SDK is installed.
            ``OTEL_SDK_DISABLED=true`` disables tracing in every case (with a warning if
            ``trace_enabled=True``).
        log_level: the lowest loguru level pynector emits (``"DEBUG"`` shows every attempt), or
            ``None``.
        trace_exporters: exporter names (entry points of ``opentelemetry_traces_exporter``:
            ``"console"``, ``"otlp"``..., or ``"none"``) or ``SpanExporter`` objects. Default:
            ``OTEL_TRACES_EXPORTER``, else ``"otlp"`` when installed, else none (with a warning).

    Returns:
        The SDK tracer provider installed (call its ``shutdown()`` to flush at exit; it also registers
        an ``atexit`` flush), or ``None`` when tracing was not set up.

    Raises:
        pynector.ConfigurationError: called a second time; a global tracer provider is already
            installed; an invalid argument or log level; tracing or exporters requested explicitly
            while the SDK is not installed; an exporter that is not installed or fails to start.
    """
    global _configured
    if _configured:
        raise ConfigurationError(
            "configure_telemetry() was already called in this process: OpenTelemetry keeps one global "
            "tracer provider, so configure once at start-up (pass Pynector(tracer_provider=...) for a "
            "client-specific provider)"
        )
    if service_name is not None and (not isinstance(service_name, str) or not service_name):
        raise ConfigurationError(f"service_name must be a non-empty string, got {service_name!r}")
    if resource_attributes is not None and not isinstance(resource_attributes, Mapping):
        raise ConfigurationError(
            f"resource_attributes must be a mapping, got {type(resource_attributes).__name__}"
        )
    if trace_enabled is not None and not isinstance(trace_enabled, bool):
        raise ConfigurationError(f"trace_enabled must be True, False or None, got {trace_enabled!r}")
    threshold = log_threshold()
    if log_level is not None:
        try:
            threshold = logger.level(log_level).no
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"log_level {log_level!r} is not a loguru level: {exc}") from exc

    warnings: list[str] = []
    provider: TracerProvider | None = None
    tracing = trace_enabled is not False
    if tracing and _env_true("OTEL_SDK_DISABLED"):
        tracing = False
        if trace_enabled:
            warnings.append("OTEL_SDK_DISABLED=true overrides trace_enabled=True: tracing is off")
    if tracing:
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            if trace_enabled or trace_exporters is not None:
                raise ConfigurationError(
                    "tracing needs the OpenTelemetry SDK, which is not installed: "
                    "pip install 'pynector-trio[otel]'"
                ) from exc
            warnings.append(
                "opentelemetry-sdk is not installed: tracing is off (pip install 'pynector-trio[otel]')"
            )
        else:
            exporters = _resolve_exporters(trace_exporters, warnings)
            if not global_provider_missing():
                raise ConfigurationError(
                    "a global OpenTelemetry tracer provider is already installed; pynector clients use "
                    "it as is (call configure_telemetry() only when nothing else configures tracing)"
                )
            attributes: dict[str, AttributeValue] = dict(resource_attributes or {})
            if service_name is not None:
                attributes["service.name"] = service_name
            sdk_provider = SDKTracerProvider(resource=Resource.create(attributes))
            for exporter in exporters:
                sdk_provider.add_span_processor(BatchSpanProcessor(exporter))
            otel_trace.set_tracer_provider(sdk_provider)
            provider = sdk_provider

    _configured = True
    if log_level is not None:
        set_log_threshold(threshold)
        logger.enable("pynector")
    for warning in warnings:
        warn("pynector telemetry misconfigured: " + warning, {"setting": "configure_telemetry"})
    return provider


def _reset_configuration() -> None:
    """Forget a previous :func:`configure_telemetry` call (pynector's state only; for tests)."""
    global _configured
    _configured = False
    set_log_threshold(0)
