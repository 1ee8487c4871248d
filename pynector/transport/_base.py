"""The transport contract.

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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol, runtime_checkable

import trio
from opentelemetry.util.types import AttributeValue

from .._errors import ClientClosedError, ProtocolError

__all__ = [
    "Attributes",
    "SeedTransport",
    "SerializedTransport",
    "TracedTransport",
    "Transport",
    "adapt_transport",
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

    Optionally, a transport has a ``name`` string attribute: the client uses it in error messages, log
    events and span names (default: the class name).
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


def adapt_transport(transport: object) -> Transport:
    """Return *transport* as an object with the atomic ``exchange`` contract.

    Raises:
        pynector.ConfigurationError: if *transport* has neither shape.
    """
    from .._errors import ConfigurationError

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
