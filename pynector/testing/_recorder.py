"""What a mock transport saw: every request, its outcome and its timing on trio's clock.

A :class:`Recorder` keeps one :class:`RecordedCall` per exchange, in arrival order, created when the
exchange starts (so a request that hangs or is cancelled is still listed) and completed when it ends.
Times come from ``trio.current_time()``, so under ``autojump_clock`` or a ``MockClock`` they are exact:
a response scripted with ``delay=2`` takes exactly 2.0 seconds.

The assertion helpers raise :class:`AssertionError` with a message listing every recorded call and its
outcome, because "expected 2 calls, got 3" alone never says which request was the surprise.

:func:`no_retry_wait` lives here too: it records the retry waits the retry loop asked for while making
them last zero seconds.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from .._retry import RETRY_WAIT_HOOK

__all__ = ["RecordedCall", "Recorder", "no_retry_wait"]

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxdict = 6
_repr.maxlist = 6


@dataclass(eq=False, slots=True)
class RecordedCall:
    """One exchange seen by a mock transport.

    Attributes:
        index: 1-based position in arrival order.
        request: the ``data`` passed to ``exchange``.
        options: the keyword options passed to ``exchange``.
        method: the HTTP method, for HTTP-shaped requests (``None`` otherwise).
        path: the URL path without query, for HTTP-shaped requests (``None`` otherwise).
        route: the name of the route that answered, or ``None`` (fallback handler or unexpected).
        unexpected: no route matched and there was no fallback handler.
        started_at: ``trio.current_time()`` when the exchange started.
        ended_at: ``trio.current_time()`` when it ended, or ``None`` while it is in flight.
        result: what the exchange returned (``None`` if it raised).
        exception: the exception the exchange raised (an ``Exception``; cancellation is never stored).
        cancelled: the exchange was cancelled (or interrupted) before it produced an outcome.
    """

    index: int
    request: Any
    options: Mapping[str, Any]
    method: str | None
    path: str | None
    route: str | None
    started_at: float
    unexpected: bool = False
    ended_at: float | None = None
    result: Any = None
    exception: Exception | None = None
    cancelled: bool = False

    @property
    def done(self) -> bool:
        """Whether the exchange has ended (with a result, an exception or a cancellation)."""
        return self.ended_at is not None

    @property
    def ok(self) -> bool:
        """Whether the exchange returned a result."""
        return self.done and self.exception is None and not self.cancelled

    @property
    def duration(self) -> float | None:
        """Seconds from start to end on trio's clock, or ``None`` while in flight."""
        return None if self.ended_at is None else self.ended_at - self.started_at

    def describe_request(self) -> str:
        """``"GET /users/1"`` for HTTP-shaped requests, a shortened ``repr`` of the data otherwise.

        Only the method and path are shown for HTTP requests: headers and query strings may carry
        credentials, and these descriptions end up in assertion messages.
        """
        if self.method is not None or self.path is not None:
            return f"{self.method or '?'} {self.path or '?'}"
        return _repr.repr(self.request)

    def describe(self, origin: float | None = None) -> str:
        """One line: index, timing, request, who answered and the outcome.

        Args:
            origin: the time shown as 0 (default: this call's start); the recorder passes the start
                of the first call, so a listing reads as a timeline.
        """
        zero = self.started_at if origin is None else origin
        start = f"{self.started_at - zero:.3f}"
        end = "..." if self.ended_at is None else f"{self.ended_at - zero:.3f}"
        if self.unexpected:
            who = "no route matched"
        elif self.route is not None:
            who = f"route {self.route}"
        else:
            who = "fallback handler"
        if self.ended_at is None:
            outcome = "in flight"
        elif self.cancelled:
            outcome = "cancelled"
        elif self.exception is not None:
            text = str(self.exception)
            name = type(self.exception).__name__
            outcome = f"raised {name}: {text}" if text else f"raised {name}"
        else:
            outcome = f"returned {_repr.repr(self.result)}"
        return f"#{self.index} [{start}-{end}s] {self.describe_request()} -> {who} -> {outcome}"


@dataclass(eq=False)
class Recorder:
    """The calls a mock transport (or one of its routes) received, with assertion helpers.

    Args:
        label: what is being recorded, for messages (``"mock transport"``, ``"route GET /users"``).
        context: the transport-wide recorder, listed in messages of a route's recorder.
    """

    label: str
    context: Recorder | None = None
    calls: list[RecordedCall] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self) -> Iterator[RecordedCall]:
        return iter(self.calls)

    def start(
        self,
        request: Any,
        options: Mapping[str, Any],
        *,
        method: str | None,
        path: str | None,
        route: str | None,
        unexpected: bool = False,
    ) -> RecordedCall:
        """Record the start of an exchange now (trio's clock) and return its entry."""
        call = RecordedCall(
            index=len(self.calls) + 1,
            request=request,
            options=dict(options),
            method=method,
            path=path,
            route=route,
            unexpected=unexpected,
            started_at=trio.current_time(),
        )
        self.calls.append(call)
        return call

    @staticmethod
    def finish(
        call: RecordedCall, *, result: Any = None, exception: Exception | None = None, cancelled: bool = False
    ) -> None:
        """Record the end of *call* now (trio's clock) with its outcome."""
        call.ended_at = trio.current_time()
        call.result = result
        call.exception = exception
        call.cancelled = cancelled

    def clear(self) -> None:
        """Forget every recorded call."""
        self.calls.clear()

    @property
    def requests(self) -> list[Any]:
        """The ``data`` of every recorded call, in arrival order."""
        return [call.request for call in self.calls]

    @property
    def unexpected(self) -> list[RecordedCall]:
        """The calls no route matched (and no fallback handler answered)."""
        return [call for call in self.calls if call.unexpected]

    def format_calls(self) -> str:
        """Every recorded call, one per line, times relative to the first call's start, in seconds."""
        source = self.context if self.context is not None else self
        if not source.calls:
            return "  (no requests were made)"
        origin = source.calls[0].started_at
        return "\n".join("  " + call.describe(origin) for call in source.calls)

    def _fail(self, summary: str) -> None:
        heading = "requests received by the mock transport"
        raise AssertionError(f"{summary}\n{heading}:\n{self.format_calls()}")

    def assert_called(self, times: int | None = None) -> None:
        """Assert at least one call was recorded, or exactly *times* calls.

        Raises:
            AssertionError: listing the recorded calls, when the count differs.
        """
        count = len(self.calls)
        if times is None:
            if count == 0:
                self._fail(f"expected the {self.label} to be called, but it was not")
        elif count != times:
            self._fail(f"expected the {self.label} to be called {_times(times)}, got {_times(count)}")

    def assert_not_called(self) -> None:
        """Assert no call was recorded.

        Raises:
            AssertionError: listing the recorded calls.
        """
        if self.calls:
            self._fail(f"expected the {self.label} not to be called, got {_times(len(self.calls))}")

    def assert_no_unexpected_requests(self) -> None:
        """Assert every request matched a route or was answered by the fallback handler.

        Raises:
            AssertionError: naming the unexpected requests and listing every recorded call.
        """
        unexpected = self.unexpected
        if unexpected:
            names = ", ".join(f"#{c.index} {c.describe_request()}" for c in unexpected)
            self._fail(f"{len(unexpected)} unexpected request(s) (no route matched): {names}")


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


@contextmanager
def no_retry_wait() -> Iterator[list[float]]:
    """Make every retry wait zero seconds inside the block, and record the waits that were skipped.

    Retries are still decided by the same rules (attempt counts, retryable errors, a ``Retry-After``
    longer than ``max_retry_after`` ends them): only the sleep is shortened, to a zero-second
    checkpoint (so cancellation still works). A policy's total ``timeout`` counts the time that
    actually passes, so skipped waits do not use it up. Yields the list of waits, in seconds, that
    ``request_with_retry`` (or any ``RetryPolicy`` loop) would have slept::

        with no_retry_wait() as waits:
            await client.request_with_retry(data, max_retries=2)
        assert [1.0, 2.0] == waits  # with jitter=0

    The switch is a context variable: it applies to the current task and the tasks it starts.
    """
    waits: list[float] = []

    def skip(wait: float) -> float:
        waits.append(wait)
        return 0.0

    token = RETRY_WAIT_HOOK.set(skip)
    try:
        yield waits
    finally:
        RETRY_WAIT_HOOK.reset(token)
