"""Client statistics: counters that exist whether or not telemetry is enabled.

:meth:`pynector.Pynector.statistics` returns a :class:`ClientStatistics` snapshot of a client's
:class:`Counters`, plain integers the client increments inline (trio runs one task at a time, so no
lock is needed; an increment is the cheapest observability there is). :class:`BatchTally` counts one
batch into them, and hands its outcome to the batch's span when telemetry records one
(:mod:`pynector._telemetry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry.util.types import AttributeValue

from ._errors import TimeoutError

if TYPE_CHECKING:
    from ._telemetry import ClientTelemetry, OperationObservation

__all__ = ["BatchTally", "ClientStatistics", "Counters"]


@dataclass(frozen=True, slots=True)
class ClientStatistics:
    """A snapshot of one client's activity, from :meth:`pynector.Pynector.statistics`.

    Attributes:
        in_flight: attempts currently running in the transport.
        waiting: batch items accepted but not started yet, plus retries sleeping before their next
            attempt.
        completed: attempts that returned a response.
        failed: attempts that raised an exception (cancelled attempts are not failures).
        retried: retries scheduled by ``request_with_retry`` (attempts after the first).
        timed_out: attempts that exceeded their timeout, plus batch items cut off by the batch
            deadline.
        quota: one :class:`pynector.QuotaKeyStatistics` per key of the client's quota (its rate,
            pauses, tokens left...); empty without ``rate_limit=``.
    """

    in_flight: int
    waiting: int
    completed: int
    failed: int
    retried: int
    timed_out: int
    quota: tuple[Any, ...] = ()


class Counters:
    """The mutable counters behind :class:`ClientStatistics`: plain integer attributes.

    Counted whether or not telemetry is enabled: an integer increment is the cheapest observability
    there is, and trio runs one task at a time, so no lock is needed.
    """

    __slots__ = ("completed", "failed", "in_flight", "retried", "timed_out", "waiting")

    def __init__(self) -> None:
        self.in_flight = 0
        self.waiting = 0
        self.completed = 0
        self.failed = 0
        self.retried = 0
        self.timed_out = 0

    def snapshot(self) -> ClientStatistics:
        """Return the current values as a frozen :class:`ClientStatistics`."""
        return ClientStatistics(
            in_flight=self.in_flight,
            waiting=self.waiting,
            completed=self.completed,
            failed=self.failed,
            retried=self.retried,
            timed_out=self.timed_out,
        )


class BatchTally:
    """Statistics and telemetry of one batch, shared by ``batch_request`` and ``stream_batch``.

    Both batch forms run the same engine with the same per-item call (``Pynector._batch_setup``),
    which counts into its tally inline (items started, finished, failed, timed out: attribute
    increments, no extra coroutine per item), so neither form scans its results. Items that the
    engine gave a result without running them to the end (cut by the batch deadline: a
    :class:`pynector.TimeoutError`; by ``fail_fast`` or an input error: a
    :class:`pynector.BatchCancelledError`) are added by :meth:`finish`: the engine says whether it ran
    to its end and whether it was stopped. Items in flight when the caller left a stream early were
    cancelled, not failed, and are not counted.

    Attributes:
        started: items the per-item call began.
        finished: items it ended, with a result or an exception.
        declared: items known up front (counted as ``waiting`` until each starts), or ``None`` for
            a lazily read stream, whose items start as soon as they are read.
    """

    __slots__ = ("_counters", "_failures", "_observed", "_timeouts", "declared", "finished", "started")

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self.declared: int | None = None
        self.started = self.finished = self._failures = self._timeouts = 0
        self._observed: OperationObservation | None = None

    def start(self, telemetry: ClientTelemetry | None, declared: int | None, concurrency: int) -> None:
        """Begin the batch: count *declared* items as waiting and open the batch span (current in the
        caller's task, so the worker tasks spawned next inherit it)."""
        self.declared = declared
        if declared:
            self._counters.waiting += declared
        if telemetry is not None:
            self._observed = telemetry.start_batch(declared, concurrency)

    def leave_context(self) -> None:
        """Stop making the batch span current in the caller's task (see ``Pynector.stream_batch``)."""
        if self._observed is not None:
            self._observed.leave_context()

    def item_failed(self, exc: Exception) -> None:
        """Count an item whose call raised *exc*."""
        self.finished += 1
        self._failures += 1
        if isinstance(exc, TimeoutError):
            self._timeouts += 1

    def finish(self, total: int, ran_out: bool, stopped: bool, error: BaseException | None) -> None:
        """Account for the end of the batch. Never raises.

        Args:
            total: the items that got (or, for a list, will get) a result: the list's length, or the
                number of items a stream read.
            ran_out: the engine ended by itself (every item done, deadline or stop), so every one of
                *total* items has a result; ``False`` when the caller interrupted it.
            stopped: ``fail_fast`` or an input error stopped the batch (unfinished items are
                cancelled, not timed out).
            error: what the batch call raises, if anything (``raise_on_error``, an input error, the
                exception that left a stream's block, cancellation).
        """
        counters = self._counters
        if self.declared:
            counters.waiting -= self.declared - self.started
        failures, timeouts = self._failures, self._timeouts
        unfinished = total - self.finished if ran_out else 0
        if unfinished > 0:
            failures += unfinished
            if not stopped:
                timeouts += unfinished
                counters.timed_out += unfinished
        observed = self._observed
        if observed is not None:
            counts: dict[str, AttributeValue] = {
                "pynector.batch.successes": self.finished - self._failures,
                "pynector.batch.failures": failures,
                "pynector.batch.timeouts": timeouts,
            }
            if self.declared is None:
                counts["pynector.batch.count"] = total if ran_out else self.started
            observed.batch_finished(counts, error)
