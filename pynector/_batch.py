"""The batch engine: a fixed pool of workers pulling from one shared, lazily read source.

The naive batch starts one task per item and guards them with a semaphore. Every task costs about
3.4 KB and a scheduler round trip before it even waits for the semaphore, so a million-item batch peaks
at gigabytes, and the item order is whatever the scheduler made of it.

Instead, at most ``max_concurrency`` workers share one source of ``(index, item)`` pairs. A worker
takes the next pair, runs it, delivers ``(index, result)`` and takes another. Nothing reads the input
ahead of the workers: an item is pulled only when a worker is free to run it, so "pulled" and "started"
are the same set, the input is never materialised, and the engine holds O(max_concurrency) items
whatever the input's length (an endless input is fine).

Sources. A sync iterable is shared as is: pulling needs no lock, since trio only switches tasks at
checkpoints and ``next()`` has none. (A sync iterable must therefore be cheap to advance; read files or
queues through an async iterable.) An async iterable cannot be advanced by two tasks at once (an async
generator raises ``RuntimeError``), so the workers take turns behind a ``trio.Lock`` and pull it
themselves. We chose that over a feeder task plus a channel: a feeder would pull one item ahead of the
workers (an item read but never started when the batch stops), costs a task and two channel hops per
item, and its failures would surface in a third task; with workers pulling, an iterator error happens in
the worker that wanted the item and stops the batch right there.

Sinks. The same workers feed two consumers:

* a list of result slots (``batch_request``): the worker stores into its slot; the list is the only
  O(n) memory, and it is the caller's result;
* a stream (``stream_batch``): results go to a buffer the consumer drains with ``async for``. In
  completion order the buffer holds at most ``2 * max_concurrency`` results; a worker finding it full
  waits (backpressure), so a slow consumer slows the batch instead of growing memory. (Twice the
  workers, not once: in one scheduler round every worker may deliver before the consumer runs, and
  a buffer that fills every round makes workers park and wake per item, ~25% slower.) At most
  ``3 * max_concurrency`` items are therefore read but not yet yielded. In input order
  (``ordered=True``) a reorder buffer keeps results until every earlier index has been yielded; workers
  may pull index ``i`` only while ``i < next_to_yield + 2 * max_concurrency``. When a slow item holds the
  head, the others finish up to that window and then wait: memory stays bounded by the window and the
  batch degrades to head-of-line blocking instead of buffering without limit.

Stopping. Each worker turns an ``Exception`` from its item into that item's result; only
``BaseException`` (``trio.Cancelled``, ``KeyboardInterrupt``) leaves the nursery, re-raised as one
exception (:func:`collapse_group`), never an ExceptionGroup. One cancel scope surrounds the pool: it
carries the batch deadline (one scope, not one per item: ~9 us saved per item) and is cancelled early
by ``fail_fast`` (the first failed item) or by an input error (the iterator raised, or a malformed pair).
Afterwards every item that was pulled but did not finish gets a result anyway: a
:class:`pynector.TimeoutError` after the deadline, a :class:`pynector.BatchCancelledError` (the failure
that stopped the batch as ``__cause__``) after a stop. For the list form, slots never pulled get the same
error; for a lazy stream, items never pulled are simply not yielded, because the input is not
materialised (their indexes are ``>=`` the number of results yielded). A worker that finished its item
but was waiting for buffer space when the stop came still delivers the real result. Results stay in
slots that start as a private sentinel, so a legitimate ``None`` result stays ``None``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sized
from contextlib import asynccontextmanager
from typing import Any, Final, NoReturn, TypeVar

import trio

from ._errors import (
    BatchCancelledError,
    BatchInputError,
    ConfigurationError,
    PynectorError,
    TimeoutError,
    describe_exception,
)
from ._exctools import collapse_group

__all__ = ["BatchResults", "open_batch_stream", "run_ordered"]

T = TypeVar("T")

_PENDING: Final[Any] = object()

#: The reorder window of an ordered stream and the result buffer of an unordered one, in multiples of
#: ``max_concurrency``.
ORDERED_WINDOW_FACTOR = 2
BUFFER_FACTOR = 2

Call = Callable[[Any], Awaitable[Any]]
Check = Callable[[int, Any], Any]


def _reraise(exc: BaseException) -> NoReturn:
    """Raise *exc* out of an ``except`` block without rewriting its ``__cause__``/``__context__``."""
    context, cause, suppress = exc.__context__, exc.__cause__, exc.__suppress_context__
    try:
        raise exc
    finally:
        exc.__context__, exc.__cause__, exc.__suppress_context__ = context, cause, suppress


class _Engine:
    """One batch run: the source, the workers, the stop logic. Subclasses choose the sink."""

    def __init__(
        self,
        items: Iterable[Any] | AsyncIterable[Any],
        call: Call,
        *,
        timeout: float | None,
        fail_fast: bool,
        check: Check | None,
    ) -> None:
        self._call = call
        self._timeout = timeout
        self._fail_fast = fail_fast
        self._check = check
        self._iter: Any = None
        self._aiter: Any = None
        if isinstance(items, AsyncIterable):
            self._aiter = aiter(items)
            self._pull_lock = trio.Lock()
        else:
            try:
                self._iter = iter(items)
            except TypeError:
                raise ConfigurationError(
                    f"batch requests must be an iterable or async iterable of (data, options) pairs, "
                    f"got {type(items).__name__}"
                ) from None
        self._pulled = 0
        self._exhausted = False
        self._scope = trio.CancelScope()
        self._stop_cause: BaseException | None = None
        self._stop_index = -1
        #: A terminal error to raise to the consumer (input error or malformed pair).
        self._input_error: PynectorError | None = None
        # Stream sinks: index -> _PENDING while running, or the result while waiting for buffer space.
        self._running: dict[int, Any] | None = None
        self._put_sync: Callable[[int, Any], object] | None = None
        # Ordered streams: the reorder window and the workers waiting for it to open.
        self._window = 0
        self._next_yield = 0
        self._window_lot = trio.lowlevel.ParkingLot()

    # --- stopping -----------------------------------------------------------------------------

    def _stop(self, index: int, cause: BaseException) -> None:
        if self._stop_cause is None:
            self._stop_cause = cause
            self._stop_index = index
            self._scope.cancel()

    def _fail_input(self, index: int, exc: Exception) -> None:
        if isinstance(exc, ConfigurationError):
            error: PynectorError = exc
        else:
            error = BatchInputError(
                f"reading batch item {index} from the requests iterable failed: {describe_exception(exc)}"
            )
            error.__cause__ = exc
        self._input_error = error
        self._stop(index, error)

    def _leftover(self, index: int) -> Exception:
        """The result of an item that was pulled (or, for a list, not pulled) but did not finish."""
        cause = self._stop_cause
        if cause is None:
            return TimeoutError(f"batch timeout of {self._timeout:g}s expired before item {index} finished")
        if self._input_error is not None:
            error = BatchCancelledError(
                f"batch item {index} was cancelled because the batch input failed at item "
                f"{self._stop_index}: {self._input_error}"
            )
        else:
            error = BatchCancelledError(
                f"batch item {index} was cancelled by fail_fast after item {self._stop_index} failed: "
                f"{describe_exception(cause)}"
            )
        error.__cause__ = cause
        return error

    # --- the pool -----------------------------------------------------------------------------

    async def _pull_async(self) -> tuple[int, Any] | None:
        lock = self._pull_lock
        try:
            lock.acquire_nowait()  # uncontended: no scheduler round trip (the call below checkpoints)
        except trio.WouldBlock:
            await lock.acquire()
        try:
            if self._window:
                while self._pulled >= self._next_yield + self._window:
                    await self._window_lot.park()
            if self._exhausted or self._stop_cause is not None:
                return None
            index = self._pulled
            try:
                item = await anext(self._aiter)
            except StopAsyncIteration:
                self._exhausted = True
                return None
            except Exception as exc:
                self._fail_input(index, exc)
                return None
            self._pulled = index + 1
            return index, item
        finally:
            lock.release()

    async def _work(self) -> None:
        call = self._call
        iterator = self._iter
        check = self._check
        fail_fast = self._fail_fast
        running = self._running
        put_sync = self._put_sync
        while self._stop_cause is None and not self._exhausted:
            if iterator is not None:
                if self._window:
                    while self._pulled >= self._next_yield + self._window:
                        await self._window_lot.park()
                    if self._stop_cause is not None or self._exhausted:
                        return
                index = self._pulled
                try:
                    item = next(iterator)
                except StopIteration:
                    self._exhausted = True
                    return
                except Exception as exc:
                    self._fail_input(index, exc)
                    return
                self._pulled = index + 1
            else:
                pulled = await self._pull_async()
                if pulled is None:
                    return
                index, item = pulled
            if check is not None:
                try:
                    item = check(index, item)
                except ConfigurationError as exc:
                    self._fail_input(index, exc)
                    return
            if running is not None:
                running[index] = _PENDING
            try:
                result = await call(item)
            except Exception as exc:
                result = exc
                if fail_fast:
                    self._stop(index, exc)
            if put_sync is not None:
                put_sync(index, result)
            elif not self._try_put(index, result):
                await self._put_waiting(index, result)

    def _try_put(self, index: int, result: Any) -> bool:
        raise NotImplementedError  # pragma: no cover - only stream sinks can refuse a result

    async def _put_waiting(self, index: int, result: Any) -> None:
        raise NotImplementedError  # pragma: no cover

    async def _run_pool(self, workers: int) -> None:
        """Run *workers* workers until the source is exhausted, the batch stopped or the deadline."""
        scope = self._scope
        if self._timeout is not None:
            scope.deadline = trio.current_time() + self._timeout
        with scope:
            try:
                async with trio.open_nursery() as nursery:
                    for _ in range(workers):
                        nursery.start_soon(self._work)
            except BaseExceptionGroup as group:
                raise collapse_group(group) from None


class _ListBatch(_Engine):
    """The list sink: one slot per item of a sized input, filled in place."""

    async def run(self, count: int, max_concurrency: int) -> list[Any]:
        slots: list[Any] = [_PENDING] * count
        if count == 0:
            return slots
        self._put_sync = slots.__setitem__
        await self._run_pool(min(max_concurrency, count))
        if self._input_error is not None:
            raise self._input_error
        if self._scope.cancel_called:
            for index, value in enumerate(slots):
                if value is _PENDING:
                    slots[index] = self._leftover(index)
        return slots


async def run_ordered(
    items: Iterable[T],
    count: int,
    call: Callable[[T], Awaitable[Any]],
    *,
    max_concurrency: int,
    timeout: float | None,
    fail_fast: bool = False,
) -> list[Any]:
    """Run *call* over *items* (``count`` of them) and return the results in input order.

    Each slot holds the call's return value or the exception it raised; with *timeout*, slots not
    finished when it expires hold a :class:`pynector.TimeoutError`; with *fail_fast*, the first
    exception stops the batch and unfinished slots hold a :class:`pynector.BatchCancelledError`.
    Blocks until every item finished, the deadline passed or the batch stopped.

    Raises:
        pynector.BatchInputError: iterating *items* raised.
    """
    batch = _ListBatch(items, call, timeout=timeout, fail_fast=fail_fast, check=None)
    return await batch.run(count, max_concurrency)


class BatchResults(_Engine):
    """The results of a streaming batch: ``async for index, result in results``.

    Yields ``(index, result)`` pairs, where *index* is the item's position in the input and *result*
    the response or the exception that item raised (a :class:`pynector.TimeoutError` for items cut
    off by the batch timeout, a :class:`pynector.BatchCancelledError` for items cut off by
    ``fail_fast``). Each pulled index is yielded exactly once: in completion order, or in input order
    for an ordered stream. Only valid inside its ``async with`` block.
    """

    def __init__(
        self,
        items: Iterable[Any] | AsyncIterable[Any],
        call: Call,
        *,
        max_concurrency: int,
        timeout: float | None,
        fail_fast: bool,
        ordered: bool,
        check: Check | None,
    ) -> None:
        super().__init__(items, call, timeout=timeout, fail_fast=fail_fast, check=check)
        # No idle workers for a short sized input; an unsized one may be endless.
        self._workers = min(max_concurrency, len(items)) if isinstance(items, Sized) else max_concurrency
        self._tracked: dict[int, Any] = {}
        self._running = self._tracked
        self._finished = False
        self._yielded = 0
        self._data_lot = trio.lowlevel.ParkingLot()
        self._ordered = ordered
        if ordered:
            self._window = ORDERED_WINDOW_FACTOR * max_concurrency
            self._reorder: dict[int, Any] = {}
            self._put_sync = self._put_ordered
        else:
            self._ready: deque[tuple[int, Any]] = deque()
            self._capacity = BUFFER_FACTOR * max_concurrency
            self._space_lot = trio.lowlevel.ParkingLot()

    @property
    def pulled(self) -> int:
        """How many items have been read from the input so far."""
        return self._pulled

    @property
    def done(self) -> bool:
        """Whether the batch ran to its end (input exhausted, stopped or deadline): every item read
        then has a result, yielded or still buffered."""
        return self._finished

    @property
    def stopped(self) -> bool:
        """Whether ``fail_fast`` or an input error stopped the batch."""
        return self._stop_cause is not None

    @property
    def yielded(self) -> int:
        """How many ``(index, result)`` pairs have been yielded so far."""
        return self._yielded

    # --- sinks (called by workers) --------------------------------------------------------------

    def _try_put(self, index: int, result: Any) -> bool:
        """Deliver at once if the buffer has room (the common case: no coroutine, no checkpoint)."""
        ready = self._ready
        if len(ready) >= self._capacity:
            return False
        del self._tracked[index]
        ready.append((index, result))
        if len(self._data_lot):
            self._data_lot.unpark()
        return True

    async def _put_waiting(self, index: int, result: Any) -> None:
        """Wait for buffer space (backpressure from a slow consumer), then deliver."""
        self._tracked[index] = result  # delivered by _run even if we are cancelled while waiting
        while not self._try_put(index, result):
            await self._space_lot.park()

    def _put_ordered(self, index: int, result: Any) -> None:
        del self._tracked[index]
        self._reorder[index] = result
        if index == self._next_yield and len(self._data_lot):
            self._data_lot.unpark()

    def _emit(self, index: int, result: Any) -> None:
        if self._ordered:
            self._reorder[index] = result
        else:
            self._ready.append((index, result))

    async def _run(self) -> None:
        try:
            await self._run_pool(self._workers)
            running = self._tracked
            for index, value in sorted(running.items()):
                self._emit(index, self._leftover(index) if value is _PENDING else value)
            running.clear()
        finally:
            self._finished = True
            self._data_lot.unpark_all()

    # --- the consumer ---------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[tuple[int, Any]]:
        return self

    def _end(self) -> NoReturn:
        error, self._input_error = self._input_error, None
        if error is not None:
            raise error
        raise StopAsyncIteration

    async def __anext__(self) -> tuple[int, Any]:
        """The next ``(index, result)``; blocks until one is ready.

        Always a cancellation point; it yields to the scheduler only when it has to wait, so draining
        a burst of ready results costs no scheduler round trips.

        Raises:
            StopAsyncIteration: every pulled item was yielded and the input is exhausted, the batch
                stopped, or its deadline passed.
            pynector.BatchInputError: the requests iterable raised (after the results that were
                ready, and the cancelled items, were yielded).
            pynector.ConfigurationError: a malformed ``(data, options)`` pair was read.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._ordered:
            reorder = self._reorder
            while self._next_yield not in reorder:
                if self._finished:
                    self._end()
                await self._data_lot.park()
            index = self._next_yield
            result = reorder.pop(index)
            self._next_yield = index + 1
            if len(self._window_lot):
                self._window_lot.unpark()
        else:
            ready = self._ready
            while not ready:
                if self._finished:
                    self._end()
                await self._data_lot.park()
            index, result = ready.popleft()
            if len(self._space_lot):
                self._space_lot.unpark()
        self._yielded += 1
        return index, result


@asynccontextmanager
async def open_batch_stream(
    items: Iterable[Any] | AsyncIterable[Any],
    call: Call,
    *,
    max_concurrency: int,
    timeout: float | None,
    ordered: bool = False,
    fail_fast: bool = False,
    check: Check | None = None,
) -> AsyncIterator[BatchResults]:
    """Run *call* over *items* in the background and yield a :class:`BatchResults` to iterate.

    The workers live in a nursery opened here: leaving the block (normally, by ``break``, by an
    exception or by cancellation) cancels whatever is still running, and no task is left afterwards.
    The deadline starts when the block is entered. *check* validates each pulled item (raising
    :class:`pynector.ConfigurationError` stops the batch).

    Raises:
        pynector.ConfigurationError: *items* is not iterable.
        BaseException: whatever the block raises, as itself (never inside an ExceptionGroup).
    """
    results = BatchResults(
        items,
        call,
        max_concurrency=max_concurrency,
        timeout=timeout,
        fail_fast=fail_fast,
        ordered=ordered,
        check=check,
    )
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(results._run)
            try:
                yield results
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        _reraise(collapse_group(group))
