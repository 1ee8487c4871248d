"""An in-process transport: each exchange calls a handler function.

For tests and examples: ``Pynector(transport_type="memory", handler=fn)``. ``fn(data, **options)`` may
be sync or async; it is called once per exchange and its return value is the response. An exception it
raises is that request's failure: builtin ``OSError``/``ConnectionError``/``TimeoutError`` are mapped to
pynector transport errors by the client, anything else reaches the caller unchanged.

With ``framing=`` (``"line"``, ``"length"``, ``"raw"``), the transport is a
:class:`FramedMemoryTransport` instead: every exchange runs over a trio in-memory stream pair, through
the same framing, pool and error-mapping code as ``"tcp"`` and ``"unix"``, with ``fn(payload) ->
reply`` (bytes in, bytes out) served on the far side by :func:`pynector.framing.serve_frames`. Tests
then exercise the real stream code paths without sockets. Without ``framing`` it stays a plain call
(the fast path the core benchmark measures).

The far side of a pooled connection is served by a task started *inside the exchange* (its own
nursery), answering exactly one request: no task outlives an exchange, and cancelling the exchange
cancels the handler with it. The far side's stream and decoder live with the pooled connection, so a
connection carries many exchanges like a socket would.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from .._errors import ConfigurationError
from .._exctools import collapse_group
from ..framing import FramedStream, serve_frames
from ._base import closed_error
from ._stream import _STREAM_OPTIONS, StreamTransport

__all__ = ["FramedMemoryTransport", "MemoryTransport", "create_memory_transport"]

Handler = Callable[..., Any] | Callable[..., Awaitable[Any]]

# In-process exchange: no network peer to describe ("inproc" as in gRPC's in-process transport).
_SPAN_ATTRIBUTES: Mapping[str, str] = {"network.transport": "inproc"}


class MemoryTransport:
    """Calls ``handler(data, **options)`` once per exchange.

    Args:
        handler: a sync or async callable. A sync handler runs in the calling task, and the exchange
            still checkpoints, so a batch of sync handlers can be cancelled and interleaves fairly.

    Raises:
        pynector.ConfigurationError: if *handler* is missing or not callable, or an unknown option is
            given.
    """

    def __init__(self, handler: Handler | None = None, **unknown: Any) -> None:
        if unknown:
            raise ConfigurationError(
                f"unknown option(s) for the memory transport: {', '.join(sorted(unknown))}"
            )
        if handler is None or not callable(handler):
            raise ConfigurationError(
                "the memory transport needs handler=fn, a callable fn(data, **options) returning the "
                f"response, got {handler!r}"
            )
        self.handler = handler
        self._is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)  # noqa: B004 - callable objects with async __call__
        )
        self._closed = False
        self.exchanges = 0

    def span_name(self, data: Any, options: Mapping[str, Any]) -> str:
        """Telemetry hook (:class:`pynector.transport.TracedTransport`): the attempt span's name."""
        return "memory exchange"

    def span_attributes(self, data: Any, options: Mapping[str, Any]) -> Mapping[str, str]:
        """Telemetry hook: the attempt span's attributes (never the payload or the options)."""
        return _SPAN_ATTRIBUTES

    async def connect(self) -> None:
        if self._closed:
            raise closed_error("memory")

    async def disconnect(self) -> None:
        self._closed = True

    async def exchange(self, data: Any, **options: Any) -> Any:
        """Call the handler with *data* and *options* and return what it returns.

        Raises:
            pynector.ClientClosedError: after ``disconnect()``.
            Exception: whatever the handler raises.
        """
        if self._closed:
            raise closed_error("memory")
        # A trio checkpoint on both sides, without losing a result: cancellation is honoured before
        # the handler runs, never after it produced a response. This also keeps a batch of handlers
        # that never block (sync, or async without awaiting) fair and cancellable.
        await trio.lowlevel.checkpoint_if_cancelled()
        self.exchanges += 1
        if self._is_async:
            result = await self.handler(data, **options)
        else:
            result = self.handler(data, **options)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return result


class _MemoryConnection(FramedStream):
    """The client end of an in-memory stream pair, carrying the framed far end with it."""

    __slots__ = ("far",)

    def __init__(self, near: trio.abc.Stream, far: FramedStream, transport: StreamTransport) -> None:
        super().__init__(near, transport.framing, label=transport.label)
        self.far = far

    async def aclose(self) -> None:
        try:
            await self.stream.aclose()
        finally:
            await self.far.aclose()


class FramedMemoryTransport(StreamTransport):
    """The memory transport with framing: the real stream code paths, served in-process.

    Args:
        handler: ``handler(payload: bytes) -> bytes`` (sync or async), called on the far side for each
            request frame; returning ``None`` closes the connection without a reply (the client then
            gets :class:`pynector.ReadError`). An exception it raises fails that request with the
            same exception (builtin I/O errors are mapped by the client), like the plain memory
            transport.
        **options: ``framing``, ``max_frame_size``, ``max_connections``, ``message_type``,
            ``connect_timeout``, as for ``"tcp"``.

    Raises:
        pynector.ConfigurationError: a missing handler or an invalid option.
    """

    def __init__(self, handler: Handler | None = None, **options: Any) -> None:
        unknown = sorted(set(options) - _STREAM_OPTIONS)
        if unknown:
            raise ConfigurationError(f"unknown option(s) for the memory transport: {', '.join(unknown)}")
        if handler is None or not callable(handler):
            raise ConfigurationError(
                f"the memory transport needs handler=fn, a callable fn(payload) -> reply, got {handler!r}"
            )
        self.handler = handler
        self.exchanges = 0
        super().__init__(self._never_called, name="memory", label="memory handler", **options)
        self.peer_attributes["network.transport"] = "inproc"

    async def _never_called(self) -> trio.abc.Stream:  # pragma: no cover - _open_connection overrides
        raise NotImplementedError

    async def _open_connection(self, key: None) -> FramedStream:
        if self._closed:
            raise closed_error(self.name)
        # Imported here: trio.testing is heavy (it can pull in pytest) and only framed memory needs it.
        from trio.testing import memory_stream_pair

        near, far = memory_stream_pair()
        return _MemoryConnection(near, FramedStream(far, self.framing, label="memory client"), self)

    async def _round_trip(self, framed: FramedStream, encoded: bytes) -> bytes | None:
        assert isinstance(framed, _MemoryConnection)
        self.exchanges += 1
        reply: bytes | None = None

        async def far_side() -> None:
            if not await serve_frames(framed.far, self.handler, max_exchanges=1):
                await framed.far.aclose()

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(far_side)
                reply = await StreamTransport._round_trip(self, framed, encoded)
        except BaseExceptionGroup as group:
            raise collapse_group(group) from None
        return reply


def create_memory_transport(**options: Any) -> MemoryTransport | FramedMemoryTransport:
    """The ``"memory"`` factory: :class:`FramedMemoryTransport` with ``framing=``, else
    :class:`MemoryTransport`.

    Raises:
        pynector.ConfigurationError: for a missing handler or invalid options.
    """
    if options.get("framing") is not None:
        return FramedMemoryTransport(**options)
    options.pop("framing", None)
    return MemoryTransport(**options)
