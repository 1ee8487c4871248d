"""An in-process transport: each exchange calls a handler function.

For tests and examples: ``Pynector(transport_type="memory", handler=fn)``. ``fn(data, **options)`` may
be sync or async; it is called once per exchange and its return value is the response. An exception it
raises is that request's failure: builtin ``OSError``/``ConnectionError``/``TimeoutError`` are mapped to
pynector transport errors by the client, anything else reaches the caller unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from .._errors import ConfigurationError
from ._base import closed_error

__all__ = ["MemoryTransport"]

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
