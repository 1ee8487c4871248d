"""Observability: OpenTelemetry spans, loguru events and client statistics, free when nobody looks.

What is produced
    * one CLIENT span per attempt, started at the client's single choke point (``Pynector._exchange``),
      named and attributed by the transport through the optional :class:`TracedTransport` hooks;
      ``Pynector.stream()`` is an attempt too, its span open for the whole ``async with`` block but
      current only while the stream is opened (so ``traceparent`` is injected, and the caller's spans
      in the block are not children of pynector's CLIENT span);
    * an INTERNAL span around both batch forms (``pynector.batch``, kept by :class:`BatchTally`, the
      one place both go through) and around every retried call (``pynector.retry``:
      ``request_with_retry`` and batch items with ``retry=`` share ``Pynector._retrying``), the parent
      of every attempt span inside it;
    * loguru events with structured fields (``logger.bind``): DEBUG per attempt, per retry and per batch,
      WARNING only when retries are given up or telemetry is misconfigured;
    * counters read by ``Pynector.statistics()``.

Nothing here ever records a payload, ``str(options)``, a header value or a URL: span attributes other
than pynector's own counters come from the transport hooks, which return values already redacted.

Why the cost is near zero when nobody looks
    A request through the memory transport costs ~4.5 us. ``tracer.start_as_current_span`` costs ~5 us
    even when no SDK is installed (the API's proxy tracer builds a non-recording span and attaches a
    context), and a loguru call on a disabled module costs ~0.5 us (it inspects the caller's frame before
    it looks at the activation list). Paying either per attempt would double the cost of a request for
    an application that never configured telemetry. So:

    * ``enable_telemetry=False``: the client holds no :class:`ClientTelemetry` at all; the hot path tests
      one attribute against ``None``.
    * No tracer provider installed: OpenTelemetry's own ``ProxyTracer`` decides per call whether a real
      provider exists by reading the module global ``opentelemetry.trace._TRACER_PROVIDER``; we read the
      same global (~30 ns, where the public ``get_tracer_provider()`` costs ~0.8 us because it consults
      ``os.environ``). A provider installed later is therefore noticed on the next attempt; once one is
      found its tracer is cached (the global provider can be set only once per process). If a future API
      release drops that global, the check falls back to the public call: slower, still correct.
    * loguru: we ask loguru's core the two questions its own ``_log`` asks, without the frame walk: does any
      handler accept this level (``core.min_level``, infinite when no handler is added), and is the module
      enabled (``core.enabled``, loguru's own per-module cache, cleared by ``logger.enable/disable``; on a
      miss we evaluate its ``activation_list`` the way loguru does). ~50 ns. Should loguru's internals
      change shape, the check answers "listening" and loguru itself filters: correct, merely slower.
    * Event fields and span attributes are built only after those checks said yes.

The SDK's own cost (~15 us to create, end and export one span) is not ours to remove; it is reported by
``benchmarks/telemetry_bench.py``.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import trio
from loguru import logger
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.util.types import AttributeValue

from ._errors import ConfigurationError, HTTPStatusError, PynectorError, TimeoutError
from ._version import __version__

__all__ = [
    "TRACER_NAME",
    "AttemptObservation",
    "BatchTally",
    "ClientStatistics",
    "ClientTelemetry",
    "Counters",
    "TraceHider",
    "TracedTransport",
    "configure_telemetry",
    "has_trace_context",
    "inject_trace_context",
]

#: The instrumentation scope of every span pynector creates (with the package version).
TRACER_NAME: Final = "pynector"

Attributes = Mapping[str, AttributeValue]

# --- statistics ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientStatistics:
    """A snapshot of one client's activity, from :meth:`pynector.Pynector.statistics`.

    Attributes:
        in_flight: attempts currently running in the transport.
        waiting: batch items accepted but not started yet, plus retries sleeping before their next
            attempt.
        completed: attempts that returned a response.
        failed: attempts that raised an exception (cancelled attempts are not failures).
        retried: retries scheduled by ``request_with_retry`` (attempts after the first).
        timed_out: attempts that exceeded their timeout, plus batch items cut off by the batch
            deadline.
        quota: one :class:`pynector.QuotaKeyStatistics` per key of the client's quota (its rate,
            pauses, tokens left...); empty without ``rate_limit=``.
    """

    in_flight: int
    waiting: int
    completed: int
    failed: int
    retried: int
    timed_out: int
    quota: tuple[Any, ...] = ()


class Counters:
    """The mutable counters behind :class:`ClientStatistics`: plain integer attributes.

    Counted whether or not telemetry is enabled: an integer increment is the cheapest observability
    there is, and trio runs one task at a time, so no lock is needed.
    """

    __slots__ = ("completed", "failed", "in_flight", "retried", "timed_out", "waiting")

    def __init__(self) -> None:
        self.in_flight = 0
        self.waiting = 0
        self.completed = 0
        self.failed = 0
        self.retried = 0
        self.timed_out = 0

    def snapshot(self) -> ClientStatistics:
        """Return the current values as a frozen :class:`ClientStatistics`."""
        return ClientStatistics(
            in_flight=self.in_flight,
            waiting=self.waiting,
            completed=self.completed,
            failed=self.failed,
            retried=self.retried,
            timed_out=self.timed_out,
        )


# --- the transport hook -------------------------------------------------------------------------


class TracedTransport(Protocol):
    """Optional telemetry hooks of a transport. Implement any subset; each is looked up on its own.

    The client calls them only when a span is actually recorded, from the task running the attempt,
    and never lets them break a request (a hook that raises is reported once as a WARNING event and its
    attributes are skipped). Values must already be redacted: no payload contents, no header values
    unless allow-listed, no URL user-info or secret query parameters.

    For HTTP (semantic conventions v1.26+): ``span_name`` returns the method (``"GET"``);
    ``span_attributes`` returns ``http.request.method``, ``url.full`` (redacted), ``server.address``,
    ``server.port``; ``response_span_attributes`` returns ``http.response.status_code``. For stream
    transports: ``network.transport``, ``server.address``, ``server.port`` and sizes. The client adds
    ``error.type`` (the exception's class, or the status code of a :class:`pynector.HTTPStatusError`,
    whose ``http.response.status_code`` it also sets) and ``http.request.resend_count`` on retries.
    The current OpenTelemetry context during ``exchange()`` holds the attempt span, so an HTTP
    transport propagates it with :func:`inject_trace_context`.
    """

    def span_name(self, data: Any, options: Mapping[str, Any]) -> str:
        """The attempt span's name (default: ``"<transport name> exchange"``)."""
        ...

    def span_attributes(self, data: Any, options: Mapping[str, Any]) -> Attributes:
        """Redacted attributes describing the request, set when the span starts."""
        ...

    def response_span_attributes(self, response: Any) -> Attributes:
        """Attributes describing a successful response, set before the span ends."""
        ...


def inject_trace_context(headers: dict[str, str]) -> None:
    """Add the current trace context (W3C ``traceparent``, plus ``tracestate``/``baggage`` when set)
    to *headers*, using the globally configured OpenTelemetry propagator.

    Transports call it while building an outgoing request: inside ``exchange()`` the current context
    holds the attempt span, so the server sees the caller's trace. Does nothing when no span is active.
    """
    propagate.inject(headers)


# --- cheap "is anyone listening" checks ---------------------------------------------------------

_UNKNOWN: Final[Any] = object()


#: True when the API no longer has the ``_TRACER_PROVIDER`` global: then poll the public (slower) call.
_POLL_PUBLIC_PROVIDER: Final = getattr(otel_trace, "_TRACER_PROVIDER", _UNKNOWN) is _UNKNOWN


def _global_provider_missing() -> bool:
    """Whether no global tracer provider is installed yet (see the module docstring)."""
    if _POLL_PUBLIC_PROVIDER:
        return isinstance(otel_trace.get_tracer_provider(), otel_trace.ProxyTracerProvider)
    return otel_trace._TRACER_PROVIDER is None


_LOG_MODULE: Final = __name__
_DEBUG: Final = 10
_WARNING: Final = 30
#: Events below this level are not emitted (``configure_telemetry(log_level=...)``; 0: all).
_log_threshold = 0
#: loguru's core when it has the shape :func:`_loguru_accepts` reads, for the inlined fast "no" path.
_LOG_CORE: Final[Any] = getattr(logger, "_core", None)
if not all(hasattr(_LOG_CORE, name) for name in ("min_level", "enabled", "activation_list")):
    _LOG_CORE = None  # type: ignore[misc]


def _loguru_accepts(level_no: int) -> bool:
    """Whether a loguru event of *level_no* from this module would reach a handler."""
    if level_no < _log_threshold:
        return False
    try:
        core = logger._core  # type: ignore[attr-defined]
        if level_no < core.min_level:
            return False
        enabled = core.enabled.get(_LOG_MODULE)
        if enabled is not None:
            return bool(enabled)
        # A miss: decide as loguru's ``_log`` does and fill its cache the same way.
        dotted = _LOG_MODULE + "."
        enabled = True
        for prefix, status in core.activation_list:
            if dotted[: len(prefix)] == prefix:
                enabled = bool(status)
                break
        core.enabled[_LOG_MODULE] = enabled
        return enabled
    except (AttributeError, TypeError, ValueError):  # loguru changed shape: let loguru decide
        return True


def _emit(level_no: int, message: str, fields: dict[str, Any]) -> None:
    """Send one event; the caller already checked :func:`_loguru_accepts`."""
    bound = logger.bind(**fields)
    if level_no >= _WARNING:
        bound.warning(message)
    else:
        bound.debug(message)


def has_trace_context() -> bool:
    """Whether the caller's context holds a valid span, whose trace context a request should carry.

    The context is an empty mapping unless something was attached to it, which one context-variable
    read tells; only then is the span looked up (this runs on every HTTP request).
    """
    return bool(otel_context.get_current()) and otel_trace.get_current_span().get_span_context().is_valid


def _span_ids(span: Span | None) -> dict[str, str]:
    """``trace_id``/``span_id`` (hex) of *span*, or of the caller's current span, when one is valid."""
    if span is None:
        span = otel_trace.get_current_span()
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


def _error_type(exc: BaseException) -> str:
    """``error.type``: the status code of an HTTP status error, else the exception's qualified class."""
    if isinstance(exc, HTTPStatusError):
        return str(exc.status_code)
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _error_description(exc: BaseException) -> str:
    """A span status / event description. Pynector's messages are written to be secret-free (they name
    the root cause, never a payload or credential); a foreign exception's message may quote anything,
    so only its class is used."""
    if isinstance(exc, PynectorError):
        return str(exc) or type(exc).__name__
    return type(exc).__name__


# --- per-client telemetry -----------------------------------------------------------------------


class ClientTelemetry:
    """Telemetry state of one client: its tracer (resolved lazily) and its transport's hooks.

    Args:
        transport: the object the hooks are looked up on (the transport, or the seed-shaped
            transport a ``SerializedTransport`` wraps).
        transport_name: the transport's registry name or class name, used in names and fields.
        tracer_provider: the provider to use; ``None`` follows the global provider, including one
            installed after the client was created.
    """

    def __init__(
        self, transport: object, transport_name: str, tracer_provider: TracerProvider | None
    ) -> None:
        self.transport_name = transport_name
        self.default_span_name = f"{transport_name} exchange"
        self.base_attributes: dict[str, AttributeValue] = {"pynector.transport": transport_name}
        self.span_name_hook: Callable[[Any, Mapping[str, Any]], str] | None = getattr(
            transport, "span_name", None
        )
        self.attributes_hook: Callable[[Any, Mapping[str, Any]], Attributes] | None = getattr(
            transport, "span_attributes", None
        )
        self.response_hook: Callable[[Any], Attributes] | None = getattr(
            transport, "response_span_attributes", None
        )
        self._failed_hooks: set[str] = set()
        self._tracer: Tracer | None = None
        self._follow_global = False
        if tracer_provider is None or isinstance(tracer_provider, otel_trace.ProxyTracerProvider):
            self._follow_global = True
        else:
            self._adopt(tracer_provider)

    def _adopt(self, provider: TracerProvider) -> None:
        self._follow_global = False
        if isinstance(provider, otel_trace.NoOpTracerProvider):
            return
        tracer = provider.get_tracer(TRACER_NAME, __version__)
        if not isinstance(tracer, otel_trace.NoOpTracer):  # e.g. the SDK with OTEL_SDK_DISABLED=true
            self._tracer = tracer

    def tracer(self) -> Tracer | None:
        """The tracer to record spans with, or ``None`` when no real tracer provider is installed."""
        tracer = self._tracer
        if tracer is None and self._follow_global and not _global_provider_missing():
            self._adopt(otel_trace.get_tracer_provider())
            tracer = self._tracer
        return tracer

    # attempts ---------------------------------------------------------------------------------

    def start_attempt(
        self, data: Any, options: Mapping[str, Any], resend_count: int
    ) -> AttemptObservation | None:
        """Start observing one attempt; ``None`` (nothing to do) when no span and no event is wanted."""
        # The checks of tracer() and _loguru_accepts() inlined: this runs on every attempt.
        tracer = self._tracer
        if (
            tracer is None
            and self._follow_global
            and (_POLL_PUBLIC_PROVIDER or otel_trace._TRACER_PROVIDER is not None)
        ):
            tracer = self.tracer()
        core = _LOG_CORE
        if core is not None and (core.enabled.get(_LOG_MODULE) is False or core.min_level > _DEBUG):
            logging = False
        else:
            logging = _loguru_accepts(_DEBUG)
        if tracer is None and not logging:
            return None
        return AttemptObservation(self, tracer, data, options, resend_count, logging)

    def _hook_failed(self, hook: str, exc: Exception) -> None:
        if hook in self._failed_hooks:
            return
        self._failed_hooks.add(hook)
        if _loguru_accepts(_WARNING):
            _emit(
                _WARNING,
                "pynector transport telemetry hook failed; its span attributes were skipped",
                {"transport": self.transport_name, "hook": hook, "error_type": _error_type(exc)},
            )

    def attributes_for(
        self, data: Any, options: Mapping[str, Any], resend_count: int
    ) -> dict[str, AttributeValue]:
        """The attempt span's start attributes: the base ones, the transport's, the resend count."""
        attributes = dict(self.base_attributes)
        if self.attributes_hook is not None:
            try:
                attributes.update(self.attributes_hook(data, options))
            except Exception as exc:
                self._hook_failed("span_attributes", exc)
        if resend_count:
            attributes["http.request.resend_count"] = resend_count
        return attributes

    def span_name_for(self, data: Any, options: Mapping[str, Any]) -> str:
        """The attempt span's name (the transport's ``span_name`` hook, else the default)."""
        if self.span_name_hook is not None:
            try:
                return self.span_name_hook(data, options)
            except Exception as exc:
                self._hook_failed("span_name", exc)
        return self.default_span_name

    # batches and retries ----------------------------------------------------------------------

    def start_batch(self, count: int | None, concurrency: int) -> OperationObservation | None:
        """Observe a batch (``pynector.batch`` span, current while the batch runs); *count* is
        ``None`` for a lazily read stream (then it is set when the batch ends)."""
        attributes: dict[str, AttributeValue] = {"pynector.batch.concurrency": concurrency}
        if count is not None:
            attributes["pynector.batch.count"] = count
        return self._start_operation("pynector.batch", attributes)

    def start_retry(self, max_retries: int) -> OperationObservation | None:
        """Observe a ``request_with_retry`` call (``pynector.retry`` span, current while it runs)."""
        return self._start_operation("pynector.retry", {"pynector.retry.max_retries": max_retries})

    def _start_operation(
        self, name: str, attributes: dict[str, AttributeValue]
    ) -> OperationObservation | None:
        tracer = self.tracer()
        logging = _loguru_accepts(_DEBUG)
        if tracer is None and not logging and not _loguru_accepts(_WARNING):
            return None
        return OperationObservation(self, tracer, name, attributes, logging)


class AttemptObservation:
    """One attempt's span and/or DEBUG event. Created and finished in the task running the attempt.

    While the attempt runs its span is the current OpenTelemetry span (so a transport's
    :func:`inject_trace_context` propagates it); exactly one of :meth:`succeeded`, :meth:`failed` or
    :meth:`cancelled` ends it.
    """

    __slots__ = ("_log", "_resend_count", "_span", "_started", "_telemetry", "_token")

    def __init__(
        self,
        telemetry: ClientTelemetry,
        tracer: Tracer | None,
        data: Any,
        options: Mapping[str, Any],
        resend_count: int,
        log: bool,
    ) -> None:
        self._telemetry = telemetry
        self._resend_count = resend_count
        self._log = log
        self._span: Span | None = None
        self._token: object = None
        if tracer is not None:
            span = tracer.start_span(
                telemetry.span_name_for(data, options),
                kind=SpanKind.CLIENT,
                attributes=telemetry.attributes_for(data, options, resend_count),
                record_exception=False,
                set_status_on_exception=False,
            )
            self._span = span
            self._token = otel_context.attach(otel_trace.set_span_in_context(span))
        self._started = trio.current_time() if log else 0.0

    def _end_span(self) -> None:
        span = self._span
        if span is not None:
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]
            span.end()

    def leave_context(self) -> None:
        """Stop making the span current (it stays open until the attempt ends).

        ``Pynector.stream()`` calls it once the stream is open: the request (and its ``traceparent``)
        was built inside the span, but the caller's code in the ``async with`` block is not part of
        the attempt, so its own spans must not become children of pynector's CLIENT span.
        """
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None

    def _event(self, message: str, outcome: str, error: BaseException | None) -> None:
        fields: dict[str, Any] = {
            "transport": self._telemetry.transport_name,
            "attempt": self._resend_count + 1,
            "outcome": outcome,
            "duration_s": trio.current_time() - self._started,
        }
        if error is not None:
            fields["error_type"] = _error_type(error)
        fields.update(_span_ids(self._span))
        _emit(_DEBUG, message, fields)

    def succeeded(self, response: Any) -> None:
        """End the attempt with a response."""
        span = self._span
        if span is not None:
            hook = self._telemetry.response_hook
            if hook is not None:
                try:
                    span.set_attributes(hook(response))
                except Exception as exc:
                    self._telemetry._hook_failed("response_span_attributes", exc)
            if self._log:
                self._event("pynector attempt succeeded", "ok", None)
            self._end_span()
        elif self._log:
            self._event("pynector attempt succeeded", "ok", None)

    def failed(self, error: Exception) -> None:
        """End the attempt with the (already mapped) exception the caller will see."""
        span = self._span
        if span is not None:
            span.set_attribute("error.type", _error_type(error))
            if isinstance(error, HTTPStatusError):
                span.set_attribute("http.response.status_code", error.status_code)
            span.set_status(Status(StatusCode.ERROR, _error_description(error)))
        if self._log:
            self._event("pynector attempt failed", "error", error)
        self._end_span()

    def cancelled(self, exc: BaseException) -> None:
        """End the attempt interrupted by cancellation (not an error) or ``KeyboardInterrupt`` (one)."""
        span = self._span
        if span is not None and not isinstance(exc, trio.Cancelled):
            span.set_attribute("error.type", _error_type(exc))
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        if self._log:
            self._event("pynector attempt cancelled", "cancelled", None)
        self._end_span()


class _HiddenTrace(AttemptObservation):
    """An attempt of a :class:`TraceHider` client: the empty context is current until it ends."""

    __slots__ = ()

    def __init__(self) -> None:
        self._span = None
        self._log = False
        self._token = otel_context.attach(_EMPTY_CONTEXT)

    def succeeded(self, response: Any) -> None:
        """Restore the caller's context."""
        self.leave_context()

    def failed(self, error: Exception) -> None:
        """Restore the caller's context."""
        self.leave_context()

    def cancelled(self, exc: BaseException) -> None:
        """Restore the caller's context."""
        self.leave_context()


class OperationObservation:
    """The INTERNAL span (and events) around a batch or a retry loop; current while it runs, so the
    attempt spans inside it, including those in batch worker tasks (trio copies the context into
    each task it spawns), are its children."""

    __slots__ = ("_log", "_name", "_span", "_telemetry", "_token")

    def __init__(
        self,
        telemetry: ClientTelemetry,
        tracer: Tracer | None,
        name: str,
        attributes: dict[str, AttributeValue],
        log: bool,
    ) -> None:
        self._telemetry = telemetry
        self._name = name
        self._log = log
        self._span: Span | None = None
        self._token: object = None
        if tracer is not None:
            attributes["pynector.transport"] = telemetry.transport_name
            span = tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
            self._span = span
            self._token = otel_context.attach(otel_trace.set_span_in_context(span))

    def _finish(self, attributes: dict[str, AttributeValue], error: BaseException | None) -> None:
        span = self._span
        if span is not None:
            span.set_attributes(attributes)
            if error is not None and not isinstance(error, trio.Cancelled):
                span.set_attribute("error.type", _error_type(error))
                span.set_status(Status(StatusCode.ERROR, _error_description(error)))
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]
            span.end()

    def leave_context(self) -> None:
        """Stop making the span current in the caller's task (tasks already spawned keep it)."""
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None

    # batch ------------------------------------------------------------------------------------

    def batch_finished(self, counts: dict[str, AttributeValue], error: BaseException | None) -> None:
        """End a batch span with its outcome counts (``pynector.batch.*`` attributes)."""
        if self._log:
            fields: dict[str, Any] = {"transport": self._telemetry.transport_name}
            fields.update((key.rpartition(".")[2], value) for key, value in counts.items())
            if error is not None:
                fields["error_type"] = _error_type(error)
            fields.update(_span_ids(self._span))
            _emit(_DEBUG, "pynector batch finished", fields)
        self._finish(counts, error)

    # retry ------------------------------------------------------------------------------------

    def retrying(self, attempt: int, error: Exception, wait: float | None) -> None:
        """Record a scheduled retry (*wait* seconds after failed *attempt*) or, with ``wait=None``,
        retries given up (attempts or deadline exhausted: a WARNING event)."""
        span = self._span
        error_type = _error_type(error)
        if wait is None:
            if span is not None:
                span.add_event(
                    "pynector.retry.given_up", {"pynector.retry.attempt": attempt, "error.type": error_type}
                )
            if _loguru_accepts(_WARNING):
                fields: dict[str, Any] = {
                    "transport": self._telemetry.transport_name,
                    "attempts": attempt,
                    "error_type": error_type,
                }
                fields.update(_span_ids(span))
                _emit(_WARNING, "pynector retries given up", fields)
            return
        if span is not None:
            span.add_event(
                "pynector.retry.wait",
                {"pynector.retry.attempt": attempt, "pynector.retry.wait_s": wait, "error.type": error_type},
            )
        if self._log:
            fields = {
                "transport": self._telemetry.transport_name,
                "attempt": attempt,
                "wait_s": wait,
                "error_type": error_type,
            }
            fields.update(_span_ids(span))
            _emit(_DEBUG, "pynector retry scheduled", fields)

    def retry_finished(self, attempts: int, error: BaseException | None) -> None:
        """End a retry span with the number of attempts made."""
        self._finish({"pynector.retry.attempts": attempts}, error)


# --- enable_telemetry=False on a transport that propagates trace context -----------------------

#: An OpenTelemetry context without a span (or anything else): current while a telemetry-disabled
#: client's exchange runs, so the transport finds no span to propagate.
_EMPTY_CONTEXT: Final = otel_context.Context()


class TraceHider(ClientTelemetry):
    """The "telemetry" of a client with ``enable_telemetry=False`` whose transport propagates the
    current trace context (it has a true ``propagate_trace_context``, as the HTTP transport does).

    ``False`` means pynector does no telemetry work for that client, so a span the caller started
    must not be sent in a ``traceparent`` either. The switch is per client, not per transport (a
    transport may be shared with a client that traces), so each attempt runs with an empty
    OpenTelemetry context made current (~0.7 us, against the ~100 us of an HTTP exchange). No span,
    no event, no batch or retry observation; clients whose transport does not propagate (memory,
    streams, SDK) get no ``TraceHider`` and pay nothing.
    """

    def __init__(self) -> None:  # no hooks, no tracer: nothing but start_attempt is used
        self.transport_name = ""

    def start_attempt(self, data: Any, options: Mapping[str, Any], resend_count: int) -> AttemptObservation:
        """Hide the caller's trace context until the attempt ends."""
        return _HiddenTrace()

    def start_batch(self, count: int | None, concurrency: int) -> None:
        """No batch observation."""

    def start_retry(self, max_retries: int) -> None:
        """No retry observation."""


# --- batches -----------------------------------------------------------------------------------


class BatchTally:
    """Statistics and telemetry of one batch, shared by ``batch_request`` and ``stream_batch``.

    Both batch forms run the same engine with the same per-item call (``Pynector._batch_setup``),
    which counts into its tally inline (items started, finished, failed, timed out: attribute
    increments, no extra coroutine per item), so neither form scans its results. Items that the
    engine gave a result without running them to the end (cut by the batch deadline: a
    :class:`pynector.TimeoutError`; by ``fail_fast`` or an input error: a
    :class:`pynector.BatchCancelledError`) are added by :meth:`finish`: the engine says whether it ran
    to its end and whether it was stopped. Items in flight when the caller left a stream early were
    cancelled, not failed, and are not counted.

    Attributes:
        started: items the per-item call began.
        finished: items it ended, with a result or an exception.
        declared: items known up front (counted as ``waiting`` until each starts), or ``None`` for
            a lazily read stream, whose items start as soon as they are read.
    """

    __slots__ = ("_counters", "_failures", "_observed", "_timeouts", "declared", "finished", "started")

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self.declared: int | None = None
        self.started = self.finished = self._failures = self._timeouts = 0
        self._observed: OperationObservation | None = None

    def start(self, telemetry: ClientTelemetry | None, declared: int | None, concurrency: int) -> None:
        """Begin the batch: count *declared* items as waiting and open the batch span (current in the
        caller's task, so the worker tasks spawned next inherit it)."""
        self.declared = declared
        if declared:
            self._counters.waiting += declared
        if telemetry is not None:
            self._observed = telemetry.start_batch(declared, concurrency)

    def leave_context(self) -> None:
        """Stop making the batch span current in the caller's task (see ``Pynector.stream_batch``)."""
        if self._observed is not None:
            self._observed.leave_context()

    def item_failed(self, exc: Exception) -> None:
        """Count an item whose call raised *exc*."""
        self.finished += 1
        self._failures += 1
        if isinstance(exc, TimeoutError):
            self._timeouts += 1

    def finish(self, total: int, ran_out: bool, stopped: bool, error: BaseException | None) -> None:
        """Account for the end of the batch. Never raises.

        Args:
            total: the items that got (or, for a list, will get) a result: the list's length, or the
                number of items a stream read.
            ran_out: the engine ended by itself (every item done, deadline or stop), so every one of
                *total* items has a result; ``False`` when the caller interrupted it.
            stopped: ``fail_fast`` or an input error stopped the batch (unfinished items are
                cancelled, not timed out).
            error: what the batch call raises, if anything (``raise_on_error``, an input error, the
                exception that left a stream's block, cancellation).
        """
        counters = self._counters
        if self.declared:
            counters.waiting -= self.declared - self.started
        failures, timeouts = self._failures, self._timeouts
        unfinished = total - self.finished if ran_out else 0
        if unfinished > 0:
            failures += unfinished
            if not stopped:
                timeouts += unfinished
                counters.timed_out += unfinished
        observed = self._observed
        if observed is not None:
            counts: dict[str, AttributeValue] = {
                "pynector.batch.successes": self.finished - self._failures,
                "pynector.batch.failures": failures,
                "pynector.batch.timeouts": timeouts,
            }
            if self.declared is None:
                counts["pynector.batch.count"] = total if ran_out else self.started
            observed.batch_finished(counts, error)


# --- one-call configuration for applications ----------------------------------------------------

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
    global _configured, _log_threshold
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
    threshold = _log_threshold
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
            if not _global_provider_missing():
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
        _log_threshold = threshold
        logger.enable("pynector")
    for warning in warnings:
        if _loguru_accepts(_WARNING):
            _emit(
                _WARNING, "pynector telemetry misconfigured: " + warning, {"setting": "configure_telemetry"}
            )
    return provider


def _reset_configuration() -> None:
    """Forget a previous :func:`configure_telemetry` call (pynector's state only; for tests)."""
    global _configured, _log_threshold
    _configured = False
    _log_threshold = 0
