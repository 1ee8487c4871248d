"""The Pynector client.

A client owns (or borrows) one transport and runs exchanges through it: one at a time with
:meth:`Pynector.request`, many with :meth:`Pynector.batch_request` (ordered, bounded, with one deadline),
or with retries via :meth:`Pynector.request_with_retry`.

Lifecycle: ``async with Pynector(...) as client`` connects the transport once and closes what the
client owns on exit, even when the block is cancelled (cleanup is shielded and bounded by
``CLOSE_TIMEOUT``). A client used without ``async with`` connects lazily on first use; concurrent first
requests connect once, behind a lock. Batch tasks live inside the batch call (its own nursery), so they
inherit the caller's context and can never outlive it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any

import trio
from opentelemetry.trace import TracerProvider

from ._batch import BatchResults, open_batch_stream, run_ordered
from ._config import (
    ClientConfig,
    resolve_config,
    validate_concurrency,
    validate_count,
    validate_rate,
    validate_timeout,
)
from ._errors import (
    BatchCancelledError,
    BatchInputError,
    ClientClosedError,
    ConfigurationError,
    PynectorError,
    TimeoutError,
    describe_exception,
    map_builtin_exception,
)
from ._net import CLOSE_TIMEOUT
from ._quota import Quota, QuotaSender, resolve_quota
from ._rate import RateLimiter
from ._retry import RetryDetails, RetryPolicy, call_with_retry
from ._statistics import BatchTally, ClientStatistics, Counters
from ._telemetry import AttemptObservation, ClientTelemetry, TraceHider
from ._verbs import HTTPVerbs
from .sse import DEFAULT_MAX_EVENT_SIZE, EventStream, open_subscription
from .transport._base import Transport, adapt_transport, inspect_transport
from .transport._registry import get_transport_factory_registry

__all__ = ["Pynector"]


_NO_OPTIONS: Mapping[str, Any] = {}


def check_batch_pair(position: int, pair: object) -> tuple[Any, Mapping[str, Any]]:
    """Return the ``(data, options)`` pair for one batch item.

    The rule, with no guessing: an item that is a ``tuple`` of two whose second element is a mapping
    is a ``(data, options)`` pair; any other item is bare data, sent with no options of its own (a
    request dict, a URL string or a message is never a tuple, so it is always bare data). To send a
    two-tuple whose second element is a mapping *as data*, wrap it: ``((a, {...}), {})``.

    Raises:
        pynector.ConfigurationError: an invalid per-item ``timeout``.
    """
    # A plain dict of options is checked first: isinstance() against the Mapping ABC is the slow test.
    if not (
        isinstance(pair, tuple) and len(pair) == 2 and (type(pair[1]) is dict or isinstance(pair[1], Mapping))
    ):
        return (pair, _NO_OPTIONS)
    if pair[1] and "timeout" in pair[1]:
        validate_timeout(pair[1]["timeout"], f"timeout of batch item {position}")
    return pair


async def _read_all(requests: object) -> list[Any]:
    """Read a non-sequence batch input into a list (``batch_request`` needs its length).

    Raises:
        pynector.ConfigurationError: *requests* is not iterable.
        pynector.BatchInputError: iterating it raised.
    """
    if not isinstance(requests, (Iterable, AsyncIterable)):
        raise ConfigurationError(
            "batch requests must be an iterable or async iterable of items (bare data or "
            "(data, options) pairs), "
            f"got {type(requests).__name__}"
        )
    items: list[Any] = []
    try:
        if isinstance(requests, AsyncIterable):
            async for pair in requests:
                items.append(pair)
        else:
            items.extend(requests)
    except Exception as exc:
        raise BatchInputError(
            f"reading batch item {len(items)} from the requests iterable failed: {describe_exception(exc)}"
        ) from exc
    return items


@dataclass(frozen=True, slots=True)
class _BatchPlan:
    """A batch's validated settings and its per-item call, shared by both batch forms.

    Attributes:
        concurrency: the most items in flight at once.
        timeout: seconds the whole batch may take, or ``None``.
        call: runs one ``(data, options)`` item (its rate limit, retries and statistics included).
        tally: the batch's statistics and span, which *call* counts into (started by the caller).
    """

    concurrency: int
    timeout: float | None
    call: Callable[[tuple[Any, Mapping[str, Any]]], Awaitable[Any]]
    tally: BatchTally


#: The per-connection timeout of a subscription's streams: none in practice (about 31 years). A
#: subscription's deadlines are its own (idle and total); the client's per-request timeout would cut
#: every long-lived connection.
_NO_CONNECTION_DEADLINE = 1e9


class Pynector(HTTPVerbs):
    """A client for one remote service, over a pluggable transport.

    For HTTP, the verbs :meth:`get`, :meth:`post`, :meth:`put`, :meth:`patch`, :meth:`delete`,
    :meth:`head` and :meth:`options` (and :meth:`send_http` for any method) return a typed
    :class:`pynector.Response`; :meth:`request` takes any transport's data and returns ``Any``.

    Args:
        transport: a transport object to use as is (no registry lookup). The client connects it once
            but never disconnects it: its owner does.
        transport_type: registry name of the transport to create when *transport* is not given
            (default, after ``config`` and ``PYNECTOR_TRANSPORT_TYPE``: ``"http"``).
        enable_telemetry: produce spans and log events (default True). Spans are recorded only
            when a real tracer provider exists, events only when loguru has a handler and
            ``pynector`` is enabled; otherwise the cost is a couple of attribute checks. ``False``
            means no telemetry work at all: no spans, no events, and the caller's trace context is
            not propagated either (no ``traceparent`` header from this client's requests, even on
            a transport shared with a client that traces); statistics are still counted.
        config: a mapping of :class:`ClientConfig` keys (``timeout``, ``max_concurrency``,
            ``max_retries``, ``retry_delay``, ``transport_type``, ``enable_telemetry``).
        tracer_provider: the OpenTelemetry tracer provider for this client's spans (default: the
            global one, looked up on each attempt until one is installed).
        rate_limit: ``"auto"`` or a :class:`pynector.Quota`: every attempt of this client stays
            inside that quota (paced per key, paused on 429, learning the rate); default none.
        **transport_options: passed to the transport factory (``handler=`` for ``"memory"``...).

    Raises:
        pynector.ConfigurationError: for an invalid setting, an unknown transport type (the message
            lists the registered ones), or options the transport rejects.
    """

    def __init__(
        self,
        transport: object | None = None,
        transport_type: str | None = None,
        enable_telemetry: bool | None = None,
        config: Mapping[str, Any] | None = None,
        tracer_provider: TracerProvider | None = None,
        rate_limit: Quota | str | None = None,
        **transport_options: Any,
    ) -> None:
        self.config: ClientConfig = resolve_config(
            {"transport_type": transport_type, "enable_telemetry": enable_telemetry}, config
        )
        if transport is not None:
            if transport_options:
                raise ConfigurationError(
                    "transport options cannot be combined with a transport object: "
                    + ", ".join(sorted(transport_options))
                )
            self._transport: Transport = adapt_transport(transport)
            self._owns_transport = False
            capabilities = inspect_transport(self._transport, transport)
        else:
            registry = get_transport_factory_registry()
            created = registry.create_transport(self.config.transport_type, **transport_options)
            self._transport = adapt_transport(created)
            self._owns_transport = True
            capabilities = inspect_transport(self._transport, created, self.config.transport_type)
        #: The transport's optional capabilities, checked once here (never looked up per request).
        self._capabilities = capabilities
        self._transport_name = capabilities.name
        self._connected = False
        self._closed = False
        self._connect_lock = trio.Lock()
        self._counters = Counters()
        self._telemetry: ClientTelemetry | None = None
        if self.config.enable_telemetry:
            self._telemetry = ClientTelemetry(capabilities, tracer_provider)
        elif capabilities.propagate_trace_context:
            # False means no telemetry work at all: not even the caller's span is propagated.
            self._telemetry = TraceHider()
        self._rate_limiter = (
            None
            if self.config.max_per_second is None
            else RateLimiter(self.config.max_per_second, self.config.burst)
        )
        self._quota = resolve_quota(rate_limit)
        self._send = self._exchange if self._quota is None else self._within(self._quota)
        self._quota_store: AbstractAsyncContextManager[object] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def transport(self) -> Transport:
        """The transport this client exchanges through."""
        return self._transport

    def statistics(self) -> ClientStatistics:
        """A frozen snapshot of this client's counters (in flight, waiting, completed, failed,
        retried, timed out) and the state of its quota; see :class:`pynector.ClientStatistics`.
        Cheap; never blocks."""
        snapshot = self._counters.snapshot()
        if self._quota is not None:
            snapshot = dataclasses.replace(snapshot, quota=self._quota.statistics())
        return snapshot

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    async def __aenter__(self) -> Pynector:
        await self._ensure_connected()
        quota = self._quota
        if quota is not None and quota.redis_url is not None and quota.store is None:
            store = quota.open()  # a shared quota: connected here, by the task that will close it
            try:
                await store.__aenter__()
            except BaseException:
                await self.aclose()
                raise
            self._quota_store = store
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _ensure_connected(self) -> Transport:
        if self._closed:
            raise ClientClosedError("this Pynector client is closed")
        if not self._connected:
            async with self._connect_lock:
                if self._closed:
                    raise ClientClosedError("this Pynector client is closed")
                if not self._connected:
                    await self._call_transport(self._transport.connect, "connect")
                    self._connected = True
        return self._transport

    async def aclose(self) -> None:
        """Close the client and, if the client created it, its transport.

        Idempotent. Disconnecting runs shielded from cancellation and is bounded by
        ``CLOSE_TIMEOUT`` seconds, so it completes even when the caller is being cancelled. Requests
        made afterwards raise :class:`pynector.ClientClosedError`.

        Raises:
            pynector.TransportError: if the transport failed to disconnect (the client is closed
                regardless).
        """
        if self._closed:
            return
        self._closed = True
        store, self._quota_store = self._quota_store, None
        try:
            if self._owns_transport and self._connected:
                with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
                    await self._call_transport(self._transport.disconnect, "disconnect")
        finally:
            if store is not None:
                # Entered by __aenter__ in this task (the Redis client's task group): left here with
                # no cancel scope around it, which would no longer nest.
                await store.__aexit__(None, None, None)

    async def _call_transport(self, method: Any, action: str) -> None:
        try:
            await method()
        except PynectorError:
            raise
        except Exception as exc:
            mapped = map_builtin_exception(exc, f"{action} of {self._transport_name} transport")
            if mapped is None:
                raise
            raise mapped from exc

    # --- one exchange ------------------------------------------------------------------------

    async def _exchange(
        self, data: Any, timeout: float | None, options: Mapping[str, Any], resend_count: int = 0
    ) -> Any:
        """One attempt: the single choke point every request, batch item and retry goes through.

        Counts the attempt in :meth:`statistics` and, when telemetry is on and someone listens, wraps
        it in a CLIENT span and a DEBUG event (``resend_count``: attempts before this one).
        """
        transport = self._transport if self._connected else await self._ensure_connected()
        if self._closed:
            raise ClientClosedError("this Pynector client is closed")
        telemetry = self._telemetry
        observed = None if telemetry is None else telemetry.start_attempt(data, options, resend_count)
        counters = self._counters
        counters.in_flight += 1
        limiter = self._rate_limiter
        try:
            if timeout is None:
                if limiter is not None:
                    await limiter.acquire()
                result = await transport.exchange(data, **options)
            else:
                # A plain scope, not fail_after: a TooSlowError raised inside the transport is the
                # transport's failure; the deadline is ours only when this scope caught its cancel.
                scope = trio.CancelScope(deadline=trio.current_time() + timeout)
                with scope:
                    if limiter is not None:
                        await limiter.acquire()
                    result = await transport.exchange(data, **options)
                if scope.cancelled_caught:
                    raise self._deadline_passed("request", timeout)
        except BaseException as exc:
            error = self._attempt_ended(observed, exc, "request")
            if error is exc:
                raise
            raise error from exc
        counters.in_flight -= 1
        counters.completed += 1
        if observed is not None:
            observed.succeeded(result)
        return result

    def _within(self, quota: Quota) -> Callable[..., Awaitable[Any]]:
        """The attempt function that runs :meth:`_exchange` inside *quota* (acquire, then observe)."""
        if self._telemetry is not None and self.config.enable_telemetry:
            quota.telemetry = True
        return QuotaSender(quota, self._transport, self._exchange)

    def _deadline_passed(self, verb: str, timeout: float) -> TimeoutError:
        """The error for this client's own *timeout* passing (its cause: a ``trio.TooSlowError``)."""
        error = TimeoutError(f"{verb} through {self._transport_name} transport timed out after {timeout:g}s")
        error.__cause__ = trio.TooSlowError()
        return error

    def _attempt_ended(
        self, observed: AttemptObservation | None, exc: BaseException, verb: str, *, mapped: bool = True
    ) -> BaseException:
        """Record the end of an attempt (a request or a stream) that raised *exc*; return what to raise.

        The one place an attempt's exception is judged, for both :meth:`_exchange` and :meth:`stream`:
        ``trio.Cancelled`` and ``KeyboardInterrupt`` end it as cancelled (not a failure) and are
        returned as they are; a builtin I/O error (a ``trio.TooSlowError`` of the transport's own
        deadline included) becomes the matching pynector error (unless *mapped* is false: an error
        from the caller's block inside a stream is not the transport's); anything else, the
        :class:`pynector.TimeoutError` of the client's own deadline included, is returned unchanged.
        Failures are counted in the statistics and end the attempt's span. The caller raises the
        result, ``from exc`` when it is not *exc*.
        """
        counters = self._counters
        counters.in_flight -= 1
        if not isinstance(exc, Exception):  # trio.Cancelled, KeyboardInterrupt, GeneratorExit
            if observed is not None:
                observed.cancelled(exc)
            return exc
        error: Exception = exc
        if not isinstance(exc, PynectorError) and mapped:
            error = map_builtin_exception(exc, f"{verb} through {self._transport_name} transport") or exc
        counters.failed += 1
        if isinstance(error, TimeoutError):
            counters.timed_out += 1
        if observed is not None:
            observed.failed(error)
        return error

    def _timeout_for(self, timeout: object) -> float | None:
        return self.config.timeout if timeout is None else validate_timeout(timeout)

    async def request(
        self, data: Any, timeout: float | None = None, *, retry: RetryPolicy | None = None, **options: Any
    ) -> Any:
        """Send *data* through the transport and return its response.

        Blocks until the exchange completes, at most *timeout* seconds (default: the client's
        ``timeout`` setting; ``None`` there means no client-side bound). With *retry*, this is
        ``request_with_retry(data, retry=retry, timeout=timeout, **options)``.

        Raises:
            pynector.TimeoutError: the exchange took longer than *timeout*.
            pynector.TransportError: (or a subclass) the transport failed; the cause is chained.
            pynector.ClientClosedError: the client was closed.
            pynector.ConfigurationError: *timeout* is invalid.
        """
        if retry is not None:
            return await self.request_with_retry(data, retry=retry, timeout=timeout, **options)
        return await self._send(data, self._timeout_for(timeout), options)

    def _batch_setup(
        self,
        max_concurrency: object,
        timeout: object,
        fail_fast: object,
        max_per_second: object,
        burst: int,
        rate_key: Callable[[Any, Mapping[str, Any]], Hashable] | None,
        retry: RetryPolicy | None,
        options: Mapping[str, Any],
        rate_limit: object = None,
    ) -> _BatchPlan:
        """Validate the batch arguments shared by both batch forms; build the per-item call and the
        :class:`BatchTally` it counts into (started by the caller)."""
        concurrency = (
            self.config.max_concurrency if max_concurrency is None else validate_concurrency(max_concurrency)
        )
        batch_timeout = validate_timeout(timeout, "batch timeout")
        if not isinstance(fail_fast, bool):
            raise ConfigurationError(f"fail_fast must be True or False, got {fail_fast!r}")
        rate = validate_rate(max_per_second)
        burst = validate_count(burst, "burst", 1)
        limiter = None if rate is None else RateLimiter(rate, burst)
        if rate_key is not None and not callable(rate_key):
            raise ConfigurationError(f"rate_key must be a callable (data, options) -> key, got {rate_key!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy or None, got {retry!r}")
        key_of = rate_key
        policy = retry
        default_timeout = self.config.timeout
        shared = options or _NO_OPTIONS
        exchange = self._send
        if rate_limit is not None:
            if rate_limit == "auto" and self._quota is None:
                auto = Quota()  # shared by every later "auto" batch of this client
                self._quota, self._send = auto, self._within(auto)
            quota = resolve_quota(rate_limit, self._quota)
            assert quota is not None
            exchange = self._send if quota is self._quota else self._within(quota)
        retrying = partial(self._retrying, exchange=exchange)

        counters = self._counters
        tally = BatchTally(counters)

        async def acquire(data: Any, merged: Mapping[str, Any]) -> None:
            assert limiter is not None
            await limiter.acquire(None if key_of is None else key_of(data, merged))

        async def one(pair: tuple[Any, Mapping[str, Any]]) -> Any:
            tally.started += 1
            if tally.declared is not None:
                counters.waiting -= 1
            if (
                isinstance(pair, tuple)
                and len(pair) == 2
                and (type(pair[1]) is dict or isinstance(pair[1], Mapping))
            ):
                data, own = pair
            else:  # bare data (see check_batch_pair)
                data, own = pair, _NO_OPTIONS
            item_timeout = default_timeout
            merged = shared
            if own:
                merged = {**shared, **own}
                requested = merged.pop("timeout", None)
                if requested is not None:
                    item_timeout = requested
            try:
                if limiter is None:
                    if policy is None:
                        result = await exchange(data, item_timeout, merged)
                    else:
                        result = await retrying(policy, data, item_timeout, merged, None)
                elif policy is None:
                    await acquire(data, merged)
                    result = await exchange(data, item_timeout, merged)
                else:
                    result = await retrying(
                        policy, data, item_timeout, merged, partial(acquire, data, merged)
                    )
            except Exception as exc:
                tally.item_failed(exc)
                raise
            tally.finished += 1
            return result

        return _BatchPlan(concurrency, batch_timeout, one, tally)

    async def batch_request(
        self,
        requests: Iterable[Any] | AsyncIterable[Any],
        max_concurrency: int | None = None,
        timeout: float | None = None,
        raise_on_error: bool = False,
        *,
        fail_fast: bool = False,
        max_per_second: float | None = None,
        burst: int = 1,
        rate_key: Callable[[Any, Mapping[str, Any]], Hashable] | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: Quota | str | None = None,
        **options: Any,
    ) -> list[Any]:
        """Run many requests with bounded concurrency and return their results in input order.

        The same engine as :meth:`stream_batch`, delivering into a list; use :meth:`stream_batch` when
        the input is large or endless.

        Args:
            requests: items that are ``(data, options)`` pairs or bare data (a request dict, a URL...,
                sent with no options of its own): an item is a pair exactly when it is a two-tuple
                whose second element is a mapping. A pair's options override the shared
                ``**options``, and a per-item ``timeout`` is that item's request timeout. A sequence is
                validated before anything is sent; other iterables are read into a list first.
            max_concurrency: the most exchanges in flight at once (default: client setting, 100).
            timeout: seconds the whole batch may take; unfinished items become
                :class:`pynector.TimeoutError` instances.
            raise_on_error: raise the first failure in input order instead of returning it
                (:class:`pynector.BatchCancelledError` slots are skipped: the failure that stopped
                the batch is raised).
            fail_fast: on the first failed item, cancel the rest; every slot not finished then holds
                a :class:`pynector.BatchCancelledError` whose ``__cause__`` is that failure.
            max_per_second: rate limit for this batch's attempts (composes with the client's
                ``max_per_second`` and with *max_concurrency*); *burst* attempts may start at once.
                Waiting for a slot counts against the batch *timeout*, not the per-request one.
            burst: the token bucket's burst size (default 1).
            rate_key: ``rate_key(data, options) -> key``: one rate-limit bucket per key (per host,
                per tenant...) instead of one for the batch.
            retry: a :class:`RetryPolicy` applied to each item (share a ``RetryBudget`` through it).
            rate_limit: ``"auto"`` (the client's learning quota, shared by every batch of the client)
                or a :class:`pynector.Quota`: pace attempts per key, pause the key on 429/503.
            **options: shared request options.

        Returns:
            One slot per request, in order: the response, or the exception that request raised.

        Blocks until every item finished, the batch stopped or its timeout expired; no task of the
        batch is left running when it returns or raises.

        Memory and the garbage collector: the list holds every response until it returns, so a large
        batch grows the heap the collector walks on each full collection (about one tracked object
        per response; a few percent of the batch's CPU time at 5,000 items). A long-lived process
        that runs large batches can move its start-up objects out of the collector's way with
        ``gc.collect(); gc.freeze()`` once its imports and set-up are done; for millions of items use
        :meth:`stream_batch`, which keeps O(max_concurrency) results alive.

        Raises:
            pynector.ConfigurationError: invalid arguments or a malformed request pair.
            pynector.BatchInputError: iterating *requests* raised (nothing was sent).
            pynector.PynectorError: with ``raise_on_error=True``, the first failed slot's exception.
        """
        plan = self._batch_setup(
            max_concurrency, timeout, fail_fast, max_per_second, burst, rate_key, retry, options, rate_limit
        )
        tally = plan.tally
        items = requests if isinstance(requests, Sequence) else await _read_all(requests)
        for position, item in enumerate(items):  # validated up front; bare items are paired in one()
            check_batch_pair(position, item)
        await self._ensure_connected()
        tally.start(self._telemetry, len(items), plan.concurrency)
        try:
            results = await run_ordered(
                items,
                len(items),
                plan.call,
                max_concurrency=plan.concurrency,
                timeout=plan.timeout,
                fail_fast=fail_fast,
            )
        except BaseException as exc:
            tally.finish(len(items), False, False, exc)
            raise
        error = None
        if raise_on_error:
            error = next(
                (r for r in results if isinstance(r, Exception) and not isinstance(r, BatchCancelledError)),
                None,
            )
        # Slots the engine cut off hold BatchCancelledError after a stop, TimeoutError after the deadline.
        stopped = fail_fast and any(isinstance(result, BatchCancelledError) for result in results)
        tally.finish(len(items), True, stopped, error)
        if error is not None:
            raise error
        return results

    @asynccontextmanager
    async def stream_batch(
        self,
        requests: Iterable[Any] | AsyncIterable[Any],
        max_concurrency: int | None = None,
        timeout: float | None = None,
        *,
        ordered: bool = False,
        fail_fast: bool = False,
        max_per_second: float | None = None,
        burst: int = 1,
        rate_key: Callable[[Any, Mapping[str, Any]], Hashable] | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: Quota | str | None = None,
        **options: Any,
    ) -> AsyncIterator[BatchResults]:
        """Run a batch of any length and get results as they finish.

        ``async with client.stream_batch(requests) as results: async for index, result in results:``.
        *requests* (any iterable or async iterable of ``(data, options)`` pairs, possibly endless) is
        read lazily, one item whenever a worker is free: memory stays O(max_concurrency). *result* is
        the response or the exception that item raised.

        Args:
            requests: ``(data, options)`` pairs or bare data, as for :meth:`batch_request`.
            max_concurrency: the most exchanges in flight at once (default: client setting, 100).
            timeout: seconds the whole stream may take, from entering the block; items in flight
                then are yielded with :class:`pynector.TimeoutError`; items never read from
                *requests* are not yielded.
            ordered: yield in input order, holding early finishers in a reorder buffer of at most
                ``2 * max_concurrency`` results; when it is full, the workers wait for the slow item
                at its head (backpressure), they never buffer more.
            fail_fast: on the first failed item, stop: items in flight are yielded with
                :class:`pynector.BatchCancelledError` (``__cause__``: that failure); no more input is
                read.
            max_per_second: rate limit for this batch's attempts; *burst* may start at once.
            burst: the token bucket's burst size (default 1).
            rate_key: ``rate_key(data, options) -> key``: one rate-limit bucket per key.
            retry: a :class:`RetryPolicy` applied to each item.
            rate_limit: ``"auto"`` or a :class:`pynector.Quota`, as for :meth:`batch_request`.
            **options: shared request options.

        Yields:
            A :class:`pynector.BatchResults` async iterator of ``(index, result)`` pairs. Leaving the
            block (after the last result, by ``break``, by an exception or by cancellation) cancels the
            outstanding work; no task is left running afterwards. Consuming slowly slows the batch
            (backpressure).

        Raises:
            pynector.ConfigurationError: invalid arguments (on entering), or a malformed pair (from
                the ``async for``, after the results already finished).
            pynector.BatchInputError: iterating *requests* raised (from the ``async for``, likewise).
        """
        plan = self._batch_setup(
            max_concurrency, timeout, fail_fast, max_per_second, burst, rate_key, retry, options, rate_limit
        )
        tally = plan.tally
        if not isinstance(ordered, bool):
            raise ConfigurationError(f"ordered must be True or False, got {ordered!r}")
        await self._ensure_connected()
        tally.start(self._telemetry, None, plan.concurrency)
        results: BatchResults | None = None
        ran_out = False  # whether the engine had ended by itself when the caller's block exited
        try:
            async with open_batch_stream(
                requests,
                plan.call,
                max_concurrency=plan.concurrency,
                timeout=plan.timeout,
                ordered=ordered,
                fail_fast=fail_fast,
                check=check_batch_pair,
            ) as results:
                # The workers copied the context (batch span included) when they were spawned; the
                # caller's block is not part of the batch.
                tally.leave_context()
                try:
                    yield results
                finally:
                    ran_out = results.done  # else leaving cancels the items in flight
        except BaseException as exc:
            if results is None:
                tally.finish(0, False, False, exc)
            else:
                tally.finish(results.pulled, ran_out, results.stopped, exc)
            raise
        assert results is not None
        tally.finish(results.pulled, ran_out, results.stopped, None)

    async def request_with_retry(
        self,
        data: Any,
        max_retries: int | None = None,
        retry_delay: float | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        **options: Any,
    ) -> Any:
        """Send *data*, retrying transport failures with capped, jittered exponential backoff.

        Args:
            max_retries: retries after the first attempt (default: client setting, 3); ``0`` makes
                one attempt.
            retry_delay: the first backoff wait in seconds (default: client setting, 1.0).
            retry: a full :class:`RetryPolicy`; it cannot be combined with the two arguments above.
            timeout: the per-attempt timeout, as in :meth:`request`.

        The waits follow the formula in :class:`RetryPolicy`'s module docstring. Blocks for every
        attempt and wait; cancellation during a wait propagates at once.

        Raises:
            Exception: the last attempt's error (``.attempts`` says how many were made) when it is not
                retryable or the retries ran out.
            pynector.ConfigurationError: invalid arguments.
        """
        if retry is None:
            retry = RetryPolicy(
                max_retries=self.config.max_retries if max_retries is None else max_retries,
                initial_delay=self.config.retry_delay if retry_delay is None else retry_delay,
            )
            # A transport may name the statuses its API retries (the sdk transport adds 5xx).
            statuses = self._capabilities.retry_statuses
            if statuses is not None:
                retry = dataclasses.replace(retry, retry_statuses=statuses)
        elif not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy or None, got {retry!r}")
        elif max_retries is not None or retry_delay is not None:
            raise ConfigurationError("pass either retry=RetryPolicy(...) or max_retries/retry_delay")
        return await self._retrying(retry, data, self._timeout_for(timeout), options, None)

    async def _retrying(
        self,
        policy: RetryPolicy,
        data: Any,
        attempt_timeout: float | None,
        options: Mapping[str, Any],
        before_attempt: Callable[[], Awaitable[None]] | None,
        exchange: Callable[..., Awaitable[Any]] | None = None,
    ) -> Any:
        """Attempts of one request under *policy*: the one retry loop of ``request_with_retry`` and of
        batch items with ``retry=``, with its statistics (retried, waiting during backoff, timed out)
        and telemetry (``pynector.retry`` span, retry events, ``http.request.resend_count``).
        *before_attempt* (a batch's rate limiter) is awaited before each attempt; *exchange* (default:
        the client's, inside its quota if any) makes each attempt."""
        send = self._send if exchange is None else exchange
        counters = self._counters
        observed = None if self._telemetry is None else self._telemetry.start_retry(policy.max_retries)
        report = policy.on_finish
        attempts = 0
        begun = 0  # attempts that got past before_attempt (what *report* counts)
        sleeping = False
        started = 0.0  # when the first attempt started (read only by *report*)

        running = False  # still True if the retry deadline interrupted an attempt

        async def attempt(number: int) -> Any:
            nonlocal attempts, begun, sleeping, running, started
            attempts = number
            if sleeping:
                sleeping = False
                counters.waiting -= 1
            if before_attempt is not None:
                await before_attempt()
            if number == 1 and report is not None:
                started = trio.current_time()
            begun = number
            running = True
            try:
                result = await send(data, attempt_timeout, options, number - 1)
            except Exception:
                running = False
                raise
            running = False
            return result

        def on_retry(number: int, exc: Exception, wait: float | None) -> None:
            nonlocal sleeping
            if wait is not None:
                counters.retried += 1
                counters.waiting += 1
                sleeping = True
            if observed is not None:
                observed.retrying(number, exc, wait)

        try:
            result = await call_with_retry(policy, attempt, on_retry=on_retry)
        except BaseException as exc:
            if running and isinstance(exc, TimeoutError):
                counters.timed_out += 1
            if observed is not None:
                observed.retry_finished(attempts, exc)
            if report is not None and begun:
                error = exc if isinstance(exc, Exception) else None
                report(data, RetryDetails(begun, started, trio.current_time(), error, error is None))
            raise
        finally:
            if sleeping:  # cancelled during a wait
                counters.waiting -= 1
        if observed is not None:
            observed.retry_finished(attempts, None)
        if report is not None:
            report(data, RetryDetails(begun, started, trio.current_time()))
        return result

    @asynccontextmanager
    async def stream(self, data: Any, timeout: float | None = None, **options: Any) -> AsyncIterator[Any]:
        """Open a streaming exchange: ``async with client.stream(data) as response: ...``.

        Delegates to the transport's ``stream(data, **options)`` async context manager (HTTP responses
        whose body is read incrementally, SDK token streams...). *timeout* (default: the client's
        ``timeout``) bounds the whole block, including the time spent consuming the stream. Leaving
        the block, normally or not, releases the transport's resources. The stream is one attempt
        for telemetry and :meth:`statistics`: in flight until the block exits, then completed, or
        failed when the block ends with an exception (cancellation is neither).

        Raises:
            pynector.ConfigurationError: the transport does not support streaming.
            pynector.TimeoutError: the block took longer than *timeout*.
            pynector.TransportError: the transport failed.
        """
        if not self._connected:
            await self._ensure_connected()
        open_stream = self._capabilities.stream
        if open_stream is None:
            raise ConfigurationError(f"the {self._transport_name} transport does not support streaming")
        limit = self._timeout_for(timeout)
        # As in _exchange: the deadline is ours only when this scope caught its cancel.
        scope = trio.CancelScope(deadline=math.inf if limit is None else trio.current_time() + limit)
        telemetry = self._telemetry
        observed = None if telemetry is None else telemetry.start_attempt(data, options, 0)
        counters = self._counters
        counters.in_flight += 1
        opened = False
        try:
            with scope:
                async with open_stream(data, **options) as response:
                    opened = True
                    if observed is not None:
                        observed.leave_context()  # the request (and its traceparent) is built
                    yield response
            if scope.cancelled_caught:
                assert limit is not None  # only a deadline cancels this scope
                raise self._deadline_passed("stream", limit)
        except BaseException as exc:
            # Opening failed with a builtin error: it is mapped. An error from the caller's block (or
            # from reading the stream) ends the attempt as failed but is re-raised as it is.
            error = self._attempt_ended(observed, exc, "stream", mapped=not opened)
            if error is exc:
                raise
            raise error from exc
        counters.in_flight -= 1
        counters.completed += 1
        if observed is not None:
            observed.succeeded(response)

    def subscribe(
        self,
        request: Any,
        *,
        retry: RetryPolicy | None = None,
        idle_timeout: float | None = None,
        timeout: float | None = None,
        last_event_id: str = "",
        reconnect: bool = True,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> AbstractAsyncContextManager[EventStream]:
        """Subscribe to a server-sent event stream and keep it alive (HTTP transports).

        ``async with client.subscribe("/events") as events: async for event in events: ...``. Each
        connection is one :meth:`stream` (one attempt in statistics and telemetry); after a drop the
        subscription reconnects with ``Last-Event-ID``, waiting as the server asked (``retry:``,
        ``Retry-After``) or with *retry*'s backoff. See :func:`pynector.sse.open_subscription` for
        the arguments. The client's ``timeout`` does not cut connections: *idle_timeout* (no event for
        N seconds: reconnect) and *timeout* (the whole subscription) are the subscription's deadlines.

        Raises:
            pynector.ConfigurationError: invalid arguments, or a transport without ``stream()``.
            Errors of the subscription come from the ``async for`` (see :class:`pynector.sse.EventStream`).
        """

        if getattr(self._transport, "stream", None) is None:
            raise ConfigurationError(f"the {self._transport_name} transport does not support streaming")

        def open_stream(data: Any, _: float | None) -> AbstractAsyncContextManager[Any]:
            return self.stream(data, timeout=_NO_CONNECTION_DEADLINE)

        return open_subscription(
            open_stream,
            request,
            retry=retry,
            idle_timeout=idle_timeout,
            timeout=timeout,
            last_event_id=last_event_id,
            reconnect=reconnect,
            max_event_size=max_event_size,
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Pynector transport={self._transport_name!r} {state}>"
