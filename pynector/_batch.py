"""The batch engine: a fixed pool of workers pulling from one shared source.

The naive batch starts one task per item and guards them with a semaphore. Every task costs about
3.4 KB and a scheduler round trip before it even waits for the semaphore, so a million-item batch peaks
at gigabytes, and the item order is whatever the scheduler made of it.

Instead, ``min(max_concurrency, n)`` workers share one iterator of ``(index, item)`` pairs. A worker
takes the next pair, runs it, delivers ``(index, result)`` and takes another. Pulling from a shared
iterator needs no lock: trio only switches tasks at checkpoints, and ``next()`` has none. Memory is
O(workers) plus whatever the delivery keeps (the ordered result list of :func:`run_ordered`).

Each worker turns an ``Exception`` from an item into that item's result. Only ``BaseException``
(``trio.Cancelled``, ``KeyboardInterrupt``) can leave the nursery, and :func:`run_pool` re-raises it as
a single exception instead of trio's ExceptionGroup, so no group reaches pynector's callers.

The batch deadline is one cancel scope around the whole pool (one scope per item would cost ~9 us per
item). Slots still holding the private ``_PENDING`` sentinel when it fires (items in flight or never
started) are then filled with :class:`pynector.TimeoutError` instances. A legitimate ``None`` result
stays ``None``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Final, TypeVar

import trio

from ._errors import TimeoutError

__all__ = ["collapse_group", "run_ordered", "run_pool"]

T = TypeVar("T")

_PENDING: Final[Any] = object()


def collapse_group(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """Pick the one exception to re-raise from a nursery's ExceptionGroup.

    Workers never let an ``Exception`` escape, so a group holds ``Cancelled`` and at most a few
    ``BaseException`` such as ``KeyboardInterrupt``; the first non-``Cancelled`` one wins, otherwise
    a ``Cancelled`` (its cancel scope catches it as usual).
    """
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(reversed(exc.exceptions))
        else:
            leaves.append(exc)
    for leaf in leaves:
        if not isinstance(leaf, trio.Cancelled):
            return leaf
    return leaves[0]


async def _worker(
    source: Iterator[tuple[int, T]],
    call: Callable[[T], Awaitable[Any]],
    deliver: Callable[[int, Any], object],
) -> None:
    for index, item in source:
        try:
            result = await call(item)
        except Exception as exc:
            result = exc
        deliver(index, result)


async def run_pool(
    source: Iterator[tuple[int, T]],
    call: Callable[[T], Awaitable[Any]],
    deliver: Callable[[int, Any], object],
    workers: int,
) -> None:
    """Run ``call(item)`` for every ``(index, item)`` of *source* with *workers* tasks.

    ``deliver(index, result_or_exception)`` is called once per item that finished; items whose call was
    cancelled are not delivered. Blocks until *source* is exhausted and every call finished.

    Raises:
        BaseException: ``trio.Cancelled`` or ``KeyboardInterrupt`` from a worker, as one exception.
    """
    try:
        async with trio.open_nursery() as nursery:
            for _ in range(workers):
                nursery.start_soon(_worker, source, call, deliver)
    except BaseExceptionGroup as group:
        raise collapse_group(group) from None


async def run_ordered(
    items: Iterable[T],
    count: int,
    call: Callable[[T], Awaitable[Any]],
    *,
    max_concurrency: int,
    timeout: float | None,
) -> list[Any]:
    """Run *call* over *items* (``count`` of them) and return the results in input order.

    Each slot holds the call's return value or the exception it raised; with *timeout*, slots not
    finished when it expires hold a :class:`pynector.TimeoutError`. Blocks until every item finished
    or the deadline passed.
    """
    results: list[Any] = [_PENDING] * count
    if count == 0:
        return results
    source = enumerate(items)
    workers = min(max_concurrency, count)
    if timeout is None:
        await run_pool(source, call, results.__setitem__, workers)
        return results
    with trio.move_on_after(timeout):
        await run_pool(source, call, results.__setitem__, workers)
    for index, value in enumerate(results):
        if value is _PENDING:
            results[index] = TimeoutError(
                f"batch timeout of {timeout:g}s expired before item {index} finished"
            )
    return results
