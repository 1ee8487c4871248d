r"""The transport contract.

The naive contract, inherited from the original design, splits a request in two calls:
``await transport.send(data)`` then ``async for chunk in transport.receive()``. It breaks as soon as two
tasks share a transport (which is what a batch does): task A sends, task B sends, task A receives B's
response. Nothing in that shape can pair a response with its request.

Our rule is that **every request/response exchange is atomic**: a transport exposes
``await transport.exchange(data, **options) -> response``, and an implementation keeps concurrent
exchanges apart (one pooled connection, one HTTP request, one handler call per exchange). Any number of
tasks can then share one transport.

Transports written in the seed shape (``connect``/``disconnect``/``send``/``receive``) still work:
:func:`adapt_transport` wraps them in :class:`SerializedTransport`, which runs their exchanges one at a
time and joins the received chunks into ``bytes``. It is correct, but it cannot be concurrent.

The whole contract lives in this module: the three required methods (:class:`Transport`) and the
optional capabilities a transport may add (listed in :class:`Transport`'s docstring; the span hooks in
:class:`TracedTransport`). :func:`inspect_transport` looks the optional ones up and checks them once,
when the client adopts a transport, into a :class:`TransportCapabilities`; nothing looks them up per
request.

Vocabulary, the same in every layer: a transport ``connect()``\ s and ``disconnect()``\ s (the names of
the original design, which user transports implement); a trio resource under or over it (a pool, an
HTTP engine, a connection, the client itself) closes with ``aclose()``, as ``trio.abc.AsyncResource``
does; ``statistics()`` returns a frozen snapshot of activity counters, as ``trio.Lock.statistics()``
does (the client's, a pool's, an engine's, a retry budget's). ``usage()`` of the LLM SDK transports is
not activity but token accounting, a snapshot of what the calls cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import trio
from opentelemetry.util.types import AttributeValue

from .._errors import ClientClosedError, ConfigurationError, ProtocolError

__all__ = [
    "Attributes",
    "SeedTransport",
    "SerializedTransport",
    "TracedTransport",
    "Transport",
    "TransportCapabilities",
    "adapt_transport",
    "inspect_transport",
]

#: Span attributes a transport hook returns (OpenTelemetry attribute values by name).
Attributes = Mapping[str, AttributeValue]


@runtime_checkable
class Transport(Protocol):
    """What the client needs from a transport.

    ``connect()`` prepares the transport and must be idempotent (the client calls it once, but a user may
    have connected the transport already). ``disconnect()`` releases everything and must be idempotent
    and safe to call from a cancelled scope. ``exchange()`` performs one complete request/response
    exchange; concurrent calls must not see each other's data.

    Optional capabilities (any subset; :func:`inspect_transport` checks them when the client adopts
    the transport):

    * ``name``: a string attribute; the client uses it in error messages, log events and span names
      (default: the registry name, or the class name of a transport object).
    * ``stream(data, **options)``: returns an async context manager yielding a response whose body is
      read incrementally; :meth:`pynector.Pynector.stream` needs it.
    * ``retry_statuses``: the HTTP status codes worth retrying for this transport's API (a collection
      of ints), used by ``request_with_retry`` when no ``RetryPolicy`` is given.
    * ``propagate_trace_context``: ``True`` when the transport sends the current trace context to the
      peer (``traceparent``); a client with ``enable_telemetry=False`` then hides the caller's span
      from it.
    * the span hooks of :class:`TracedTransport`.
    """

    async def connect(self) -> None:
        """Make the transport ready to exchange. Idempotent."""

    async def disconnect(self) -> None:
        """Release every resource the transport holds. Idempotent."""

    async def exchange(self, data: Any, **options: Any) -> Any:
        """Send *data* and return the peer's response.

        Raises:
            pynector.TransportError: (or a subclass) when the exchange fails. Builtin ``OSError`` and
                ``TimeoutError`` are mapped to pynector errors by the client.
        """


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
    transport propagates it with :func:`pynector._telemetry.inject_trace_context`.
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


@runtime_checkable
class SeedTransport(Protocol):
    """The transport shape of the original design: ``send`` then ``receive``."""

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def send(self, data: Any, **options: Any) -> None: ...

    def receive(self) -> AsyncIterator[bytes]: ...


class SerializedTransport:
    """Runs the exchanges of a seed-shaped transport one at a time.

    ``send`` + ``receive`` cannot pair a response with its request, so a lock makes each pair atomic.
    If an exchange is interrupted between its ``send`` and the end of its ``receive`` (cancellation,
    timeout, error), the peer may still deliver that response later, where the next exchange would read
    it. The wrapped transport is then reconnected (``disconnect()`` + ``connect()``) before the next
    exchange, so a stale response can never be handed to another request.
    """

    def __init__(self, inner: SeedTransport) -> None:
        self.inner = inner
        self._lock = trio.Lock()
        self._dirty = False

    async def connect(self) -> None:
        await self.inner.connect()

    async def disconnect(self) -> None:
        await self.inner.disconnect()

    async def exchange(self, data: Any, **options: Any) -> bytes:
        async with self._lock:
            if self._dirty:
                await self.inner.disconnect()
                await self.inner.connect()
                self._dirty = False
            self._dirty = True
            await self.inner.send(data, **options)
            chunks: list[bytes] = []
            receiver = self.inner.receive()
            try:
                async for chunk in receiver:
                    if not isinstance(chunk, (bytes, bytearray, memoryview)):
                        raise ProtocolError(
                            f"{type(self.inner).__name__}.receive() yielded {type(chunk).__name__}, "
                            "expected bytes"
                        )
                    chunks.append(bytes(chunk))
            finally:
                # An async generator abandoned mid-way must be closed here, in this task, not by the
                # garbage collector later (where it would run outside any trio context).
                aclose = getattr(receiver, "aclose", None)
                if aclose is not None:
                    await aclose()
            self._dirty = False
            return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class TransportCapabilities:
    """The optional capabilities of one transport, looked up and checked once (see :class:`Transport`).

    Attributes:
        name: what the client calls the transport in messages, events and span names.
        stream: the transport's ``stream`` method, or ``None`` when it cannot stream.
        retry_statuses: the statuses its API retries, or ``None`` (the retry policy's default).
        propagate_trace_context: whether it sends the current trace context to the peer.
        span_name: the :class:`TracedTransport` hook, or ``None``.
        span_attributes: likewise.
        response_span_attributes: likewise.
    """

    name: str
    stream: Callable[..., AbstractAsyncContextManager[Any]] | None = None
    retry_statuses: frozenset[int] | None = None
    propagate_trace_context: bool = False
    span_name: Callable[[Any, Mapping[str, Any]], str] | None = None
    span_attributes: Callable[[Any, Mapping[str, Any]], Attributes] | None = None
    response_span_attributes: Callable[[Any], Attributes] | None = None


def _hook(owner: object, attribute: str) -> Any:
    """``owner.<attribute>`` when it is callable, ``None`` when absent.

    Raises:
        pynector.ConfigurationError: the attribute exists but is not callable.
    """
    value = getattr(owner, attribute, None)
    if value is not None and not callable(value):
        raise ConfigurationError(
            f"{type(owner).__name__}.{attribute} must be a method, got {type(value).__name__}"
        )
    return value


def inspect_transport(
    transport: Transport, original: object, name: str | None = None
) -> TransportCapabilities:
    """Look up and check the optional capabilities of a transport, once.

    Args:
        transport: the adapted transport (what :func:`adapt_transport` returned); ``stream`` is looked
            up on it, since a :class:`SerializedTransport` cannot stream.
        original: the object the user gave or the factory made; ``name``, ``retry_statuses``,
            ``propagate_trace_context`` and the span hooks are looked up on it.
        name: the name to use (a registry name); default: ``original.name``, else its class name.

    Raises:
        pynector.ConfigurationError: a capability has the wrong type (a ``name`` that is not a
            string, ``retry_statuses`` that are not status codes, a hook that is not callable).
    """
    if name is None:
        declared = getattr(original, "name", None)
        if declared is not None and not (isinstance(declared, str) and declared):
            raise ConfigurationError(
                f"{type(original).__name__}.name must be a non-empty string, got {declared!r}"
            )
        name = declared or type(original).__name__
    statuses = getattr(original, "retry_statuses", None)
    if statuses is not None:
        statuses = _status_codes(statuses, f"{type(original).__name__}.retry_statuses")
    return TransportCapabilities(
        name=name,
        stream=_hook(transport, "stream"),
        retry_statuses=statuses,
        propagate_trace_context=getattr(original, "propagate_trace_context", False) is True,
        span_name=_hook(original, "span_name"),
        span_attributes=_hook(original, "span_attributes"),
        response_span_attributes=_hook(original, "response_span_attributes"),
    )


def _status_codes(value: object, field: str) -> frozenset[int]:
    """*value* as a frozenset of HTTP status codes.

    Raises:
        pynector.ConfigurationError: *value* is not a collection of ints in 100..599.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigurationError(f"{field} must be a collection of HTTP status codes, got {value!r}")
    codes = frozenset(value)
    if not all(isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599 for code in codes):
        raise ConfigurationError(
            f"{field} must hold HTTP status codes (100-599), got {sorted(codes, key=str)!r}"
        )
    return codes


def adapt_transport(transport: object) -> Transport:
    """Return *transport* as an object with the atomic ``exchange`` contract.

    Raises:
        pynector.ConfigurationError: if *transport* has neither shape.
    """
    if isinstance(transport, Transport):
        return transport
    if isinstance(transport, SeedTransport):
        return SerializedTransport(transport)
    raise ConfigurationError(
        f"{type(transport).__name__} is not a transport: it needs connect(), disconnect() and either "
        "exchange(data, **options) or send(data, **options) + receive()"
    )


def closed_error(name: str) -> ClientClosedError:
    """The error raised by a transport used after ``disconnect()``."""
    return ClientClosedError(f"{name} transport is closed")
