"""The callable transport: any async callable as a transport, with SDK errors translated."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ..._errors import ConfigurationError
from .._base import closed_error
from ._errors import SDK_RETRY_STATUSES, map_sdk_exception
from ._usage import Usage

__all__ = ["CallableTransport"]


class CallableTransport:
    """Makes any async callable a transport: ``exchange(data, **options)`` returns ``fn(data, **options)``.

    Created by ``Pynector(transport_type="callable", fn=...)`` or directly, it gives any client
    library's coroutine pynector's batches, retries and deadlines::

        async def ask(prompt, **options):
            return await some_sdk.generate(prompt=prompt, **options)

        async with Pynector(transport_type="callable", fn=ask, temperature=0) as client:
            replies = await client.batch_request([(p, {}) for p in prompts], max_concurrency=8)

    Args:
        fn: an async function (or a function returning an awaitable) called once per exchange.
        **defaults: keyword arguments passed on every call, under the request's own options.

    OpenAI and Anthropic SDK exceptions raised by *fn* are translated like the sdk transport's;
    builtin I/O errors are mapped by the client; anything else reaches the caller unchanged. Token
    usage of SDK responses returned by *fn* is summed in :meth:`usage`.

    Raises:
        pynector.ConfigurationError: *fn* is missing or not callable.
    """

    retry_statuses: frozenset[int] = SDK_RETRY_STATUSES

    def __init__(self, fn: Callable[..., Awaitable[Any]] | None = None, **defaults: Any) -> None:
        if fn is None or not callable(fn):
            raise ConfigurationError(
                f"the callable transport needs fn=..., an async callable fn(data, **options), got {fn!r}"
            )
        self.fn = fn
        self.defaults = defaults
        self._name = getattr(fn, "__qualname__", type(fn).__name__)
        self._closed = False
        self._usage = Usage()

    def usage(self) -> Usage:
        """Tokens reported by the SDK responses *fn* returned so far."""
        return self._usage

    def __repr__(self) -> str:
        return f"<CallableTransport fn={self._name}>"

    async def connect(self) -> None:
        """Nothing to prepare. Idempotent.

        Raises:
            pynector.ClientClosedError: after ``disconnect()``.
        """
        if self._closed:
            raise closed_error("callable")

    async def disconnect(self) -> None:
        """Mark the transport closed. Idempotent."""
        self._closed = True

    async def exchange(self, data: Any, **options: Any) -> Any:
        """Await ``fn(data, **defaults, **options)`` and return its result.

        Raises:
            pynector.ClientClosedError: after ``disconnect()``.
            pynector.PynectorError: a translated SDK exception.
            Exception: whatever else *fn* raises.
        """
        if self._closed:
            raise closed_error("callable")
        try:
            result = self.fn(data, **({**self.defaults, **options} if self.defaults else options))
            if inspect.isawaitable(result):
                result = await result
            else:
                await trio.lowlevel.checkpoint()
        except Exception as exc:
            mapped = map_sdk_exception(exc, f"call to {self._name}")
            if mapped is None:
                raise
            raise mapped from exc
        self._usage += Usage.of(result)
        return result
