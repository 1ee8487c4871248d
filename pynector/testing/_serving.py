"""Running a loopback server for the length of an ``async with`` block."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio

from .._exctools import collapse_group

__all__ = ["open_served"]


@asynccontextmanager
async def open_served(serve: Callable[..., Any], *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
    """Start ``serve(*args, **kwargs)`` with ``nursery.start``, yield what it reported, and cancel it
    when the block exits (every connection it holds is then closed).

    What the block raises leaves as itself, never wrapped in an ExceptionGroup.
    """
    try:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(partial(serve, *args, **kwargs))
            try:
                yield server
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise collapse_group(group) from None
