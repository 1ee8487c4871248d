"""Retries: a small frozen policy object and one loop that applies it.

Backoff ("equal jitter", from the AWS architecture blog): before retry number ``k`` (1 for the first
retry) the wait is::

    base_k = min(max_delay, initial_delay * multiplier ** (k - 1))
    wait_k = base_k * (1 - jitter * u)        u uniform in [0, 1), from the injectable ``random``

so with the defaults (``initial_delay=1``, ``multiplier=2``, ``max_delay=30``, ``jitter=0.5``) the waits
fall in [0.5, 1], [1, 2], [2, 4], ... and never exceed ``max_delay``. ``jitter=0`` gives exact,
deterministic waits; ``jitter=1`` is "full jitter".

A server can ask for a specific wait: an exception with a ``retry_after`` attribute (seconds, set by
the HTTP layer from a ``Retry-After`` header) replaces the backoff for that retry. A wait longer than
``max_retry_after`` ends the retries instead of sleeping, and so does any wait that would pass the
policy's total ``timeout`` (one deadline covering every attempt and every wait): failing at once beats
sleeping only to fail at the deadline.

A shared :class:`RetryBudget` (off by default; ``RetryPolicy(budget=...)``) stops retries from
amplifying the load on a failing service, after gRPC's retry throttling: the budget holds up to
``max_tokens`` tokens (it starts full); every attempt that fails with a retryable error takes one token,
every success gives back ``token_ratio``; a retry is allowed only while more than half the tokens are
left. Against a service that fails everything, a batch of ``N`` requests sharing one budget makes
``N + ceil(max_tokens / 2) - 1`` attempts in total (with the default 10 tokens: ``N + 4``) instead of
``N * (max_retries + 1)``; once successes return, the tokens refill and retries resume. Tokens are kept in
thousandths as integers, so the arithmetic is exact. Non-retryable failures (a 404) neither take nor give
tokens. Failure recording and the retry decision happen with no checkpoint in between, so concurrent
attempts sharing a budget see a consistent count.

HTTP methods (the resend rule): a request that may have reached the server is resent only when its method is
idempotent (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) or the policy sets ``retry_non_idempotent``.
The HTTP layer marks its errors with ``http_method`` and ``request_sent`` (``False`` for failures
before any byte left the client: connect errors, pool timeouts), so a connect failure is retried for
any method. Errors without those attributes (other transports) are not affected. A
:class:`~pynector.TLSError` is not retried unless ``retry_on`` names it: a certificate does not fix
itself.

Only ``Exception`` subclasses are considered; ``trio.Cancelled`` and ``KeyboardInterrupt`` propagate
at once, including from the middle of a wait. All timing reads trio's clock, so ``MockClock`` and
``autojump_clock`` make retry tests instant and exact.

How a call went: a failure carries ``.attempts`` (on pynector errors); for successes too, a policy
with ``on_finish=hook`` calls ``hook(data, details)`` once per call, when it ends with a response or
an error, where ``details`` is a :class:`RetryDetails` (attempts made, when the first started, when
the last ended, the error if any), as tenacity's retry state and stamina's hooks report. The
``pynector batch`` command records attempts and elapsed time per item that way.

Tests of code that retries can go further: :data:`RETRY_WAIT_HOOK` (set by
``pynector.testing.no_retry_wait()``) is read once per wait and replaces the computed wait with what
it returns, after the decision to retry was taken on the real value (a skipped wait then takes no
time, so it does not use up the policy's total ``timeout``). Unset, it costs one ``ContextVar.get``
per wait.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from ._config import validate_count, validate_delay, validate_timeout
from ._errors import (
    ConfigurationError,
    HTTPStatusError,
    PynectorError,
    TimeoutError,
    TLSError,
    TransportError,
)
from ._httpcommon import IDEMPOTENT_METHODS

__all__ = ["RetryBudget", "RetryBudgetStatistics", "RetryDetails", "RetryPolicy", "call_with_retry"]

T = TypeVar("T")

#: Methods that may be sent twice with the effect of once (RFC 9110, section 9.2.2).


def _may_resend(exc: Exception) -> bool:
    """The resend rule: an HTTP request that may have reached the server is resent only if its method
    is idempotent (or the policy opts in); one that never left the client is resent for any method."""
    if not isinstance(exc, PynectorError) or exc.http_method is None:
        return True
    return exc.http_method in IDEMPOTENT_METHODS or exc.request_sent is False


#: When set, called with each retry wait (seconds) that ``call_with_retry`` is about to sleep; the
#: wait actually slept is what it returns. ``pynector.testing.no_retry_wait()`` sets it to record the
#: waits and sleep zero. A testing hook: applications have no reason to set it.
RETRY_WAIT_HOOK: ContextVar[Callable[[float], float] | None] = ContextVar(
    "pynector_retry_wait_hook", default=None
)


@dataclass(frozen=True, slots=True)
class RetryBudgetStatistics:
    """A snapshot of a :class:`RetryBudget`.

    Attributes:
        tokens: tokens left (retries are allowed while ``tokens > max_tokens / 2``).
        max_tokens: the budget's capacity.
        token_ratio: tokens given back per successful attempt.
        retries_allowed: retries the budget granted so far.
        retries_refused: retries it refused (the caller got the failure instead).
    """

    tokens: float
    max_tokens: float
    token_ratio: float
    retries_allowed: int
    retries_refused: int


class RetryBudget:
    """A retry budget shared by many calls (gRPC retry throttling; see the module docstring).

    Share one budget between the requests that hit the same service (for example every item of a
    batch, through one :class:`RetryPolicy`). Not thread-safe; safe among trio tasks.

    Args:
        max_tokens: capacity and initial token count, a number in (0, 1000] (default 10).
        token_ratio: tokens a successful attempt gives back, in (0, max_tokens] (default 0.1),
            precise to a thousandth.

    Raises:
        pynector.ConfigurationError: for values out of range.
    """

    __slots__ = ("_max", "_ratio", "_tokens", "retries_allowed", "retries_refused")

    def __init__(self, max_tokens: float = 10, token_ratio: float = 0.1) -> None:
        capacity = validate_delay(max_tokens, "max_tokens")
        ratio = validate_delay(token_ratio, "token_ratio")
        if not 0 < capacity <= 1000:
            raise ConfigurationError(f"max_tokens must be in (0, 1000], got {max_tokens!r}")
        if not 0 < ratio <= capacity:
            raise ConfigurationError(f"token_ratio must be in (0, max_tokens], got {token_ratio!r}")
        self._max = round(capacity * 1000)
        self._ratio = max(1, round(ratio * 1000))
        self._tokens = self._max
        self.retries_allowed = 0
        self.retries_refused = 0

    def record_success(self) -> None:
        """Give back ``token_ratio`` tokens (up to ``max_tokens``): an attempt succeeded."""
        self._tokens = min(self._max, self._tokens + self._ratio)

    def record_failure(self) -> None:
        """Take one token (down to zero): an attempt failed with a retryable error."""
        self._tokens = max(0, self._tokens - 1000)

    def try_retry(self) -> bool:
        """Whether a retry may be made now (more than half the tokens left); counts the decision."""
        if self._tokens * 2 > self._max:
            self.retries_allowed += 1
            return True
        self.retries_refused += 1
        return False

    def statistics(self) -> RetryBudgetStatistics:
        """A frozen snapshot of the budget's state and counters."""
        return RetryBudgetStatistics(
            tokens=self._tokens / 1000,
            max_tokens=self._max / 1000,
            token_ratio=self._ratio / 1000,
            retries_allowed=self.retries_allowed,
            retries_refused=self.retries_refused,
        )

    def __repr__(self) -> str:
        return f"RetryBudget(max_tokens={self._max / 1000:g}, token_ratio={self._ratio / 1000:g})"


@dataclass(frozen=True, slots=True)
class RetryDetails:
    """How one call under a :class:`RetryPolicy` went, given to the policy's ``on_finish`` hook.

    Attributes:
        attempts: attempts made (1 when the first one answered).
        started: trio time at which the first attempt started (after any rate-limit wait).
        finished: trio time at which the call ended (the last attempt's end).
        error: the exception the call raises, or ``None`` when it returned a response or was
            cancelled.
        cancelled: whether the call was cancelled (by a deadline around it, a batch stopping...).
    """

    attempts: int
    started: float
    finished: float
    error: Exception | None = None
    cancelled: bool = False

    @property
    def elapsed(self) -> float:
        """Seconds from the first attempt's start to the last one's end, waits between included."""
        return self.finished - self.started


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, how long and on what to retry.

    Attributes:
        max_retries: retries after the first attempt (``0`` means a single attempt).
        initial_delay: the first backoff wait, in seconds.
        max_delay: the cap on any backoff wait.
        multiplier: growth factor between backoff waits (>= 1).
        jitter: fraction of each wait that is randomised, in [0, 1].
        retry_on: exception classes that are retried (default: :class:`pynector.TransportError`,
            which includes timeouts).
        retry_statuses: HTTP statuses whose :class:`pynector.HTTPStatusError` is retried (default
            429 and 503); the error's ``retry_after`` replaces the backoff for that wait.
        retry_if: optional extra predicate; an exception is retried only if it is an instance of
            ``retry_on`` and ``retry_if(exc)`` is true.
        timeout: one total deadline in seconds for all attempts and waits, or ``None``.
        max_retry_after: the longest server-requested wait that is honoured; longer ends the retries.
        random: source of ``u`` in the backoff formula (inject for deterministic tests).
        budget: an optional shared :class:`RetryBudget` that can refuse retries (``None``: no budget).
        retry_non_idempotent: also resend HTTP requests with non-idempotent methods (POST, PATCH)
            after they may have reached the server (default False; see the module docstring).
        result_failure: optional ``result_failure(result)``: the failure a returned result stands for
            (say the status error an HTTP response would raise), or ``None`` when it is final. That
            failure goes through the rules of a raised one (``retry_statuses``, budget, ``retry_after``,
            ``on_retry``); when it is not retried, the result itself is returned. It must not block
            or raise.
        on_finish: optional ``on_finish(data, details)``, called once when a call made with this
            policy ends after at least one attempt started (with a response, an error, or
            cancelled), with the call's *data* and a :class:`RetryDetails`; it runs in the calling
            task, must not block and must not raise.

    Raises:
        pynector.ConfigurationError: on construction, for any invalid value.
    """

    max_retries: int = 3
    initial_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    retry_on: tuple[type[Exception], ...] = (TransportError,)
    retry_statuses: frozenset[int] = frozenset({429, 503})
    retry_if: Callable[[Exception], bool] | None = None
    timeout: float | None = None
    max_retry_after: float = 300.0
    random: Callable[[], float] = field(default=_random.random, compare=False, repr=False)
    budget: RetryBudget | None = field(default=None, compare=False)
    retry_non_idempotent: bool = False
    result_failure: Callable[[Any], Exception | None] | None = field(default=None, compare=False, repr=False)
    on_finish: Callable[[Any, RetryDetails], object] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        validate_count(self.max_retries, "max_retries", 0)
        validate_delay(self.initial_delay, "initial_delay")
        validate_delay(self.max_delay, "max_delay")
        validate_delay(self.max_retry_after, "max_retry_after")
        validate_timeout(self.timeout, "retry timeout")
        if validate_delay(self.multiplier, "multiplier") < 1:
            raise ConfigurationError(f"multiplier must be >= 1, got {self.multiplier!r}")
        if not 0 <= validate_delay(self.jitter, "jitter") <= 1:
            raise ConfigurationError(f"jitter must be between 0 and 1, got {self.jitter!r}")
        if not isinstance(self.retry_on, tuple) or not all(
            isinstance(c, type) and issubclass(c, Exception) for c in self.retry_on
        ):
            raise ConfigurationError("retry_on must be a tuple of Exception subclasses")
        if self.budget is not None and not isinstance(self.budget, RetryBudget):
            raise ConfigurationError(f"budget must be a RetryBudget or None, got {self.budget!r}")
        if not isinstance(self.retry_non_idempotent, bool):
            raise ConfigurationError(
                f"retry_non_idempotent must be True or False, got {self.retry_non_idempotent!r}"
            )
        if self.result_failure is not None and not callable(self.result_failure):
            raise ConfigurationError(
                f"result_failure must be a callable (result), got {self.result_failure!r}"
            )
        if self.on_finish is not None and not callable(self.on_finish):
            raise ConfigurationError(f"on_finish must be a callable (data, details), got {self.on_finish!r}")
        if not isinstance(self.retry_statuses, frozenset):
            object.__setattr__(self, "retry_statuses", frozenset(self.retry_statuses))

    def is_retryable(self, exc: Exception) -> bool:
        """Whether *exc* may be retried (the attempt budget is checked separately)."""
        if isinstance(exc, HTTPStatusError):
            if exc.status_code not in self.retry_statuses:
                return False
        elif not isinstance(exc, self.retry_on):
            return False
        if isinstance(exc, TLSError) and TLSError not in self.retry_on:
            return False
        if not self.retry_non_idempotent and not _may_resend(exc):
            return False
        return self.retry_if is None or bool(self.retry_if(exc))

    def backoff(self, retry: int) -> float:
        """The jittered wait before retry number *retry* (1-based), per the module formula."""
        exponent = min(retry - 1, 1024)  # no float overflow for absurd retry counts
        base = min(self.max_delay, self.initial_delay * self.multiplier**exponent)
        return base * (1.0 - self.jitter * self.random())

    def wait_before(self, exc: Exception, retry: int) -> float:
        """The wait before retry *retry* after *exc*: the server's ``retry_after``, else backoff."""
        requested = getattr(exc, "retry_after", None)
        if isinstance(requested, (int, float)) and math.isfinite(requested):
            return max(0.0, float(requested))
        return self.backoff(retry)


def _attach_attempts(exc: Exception, attempts: int) -> None:
    if isinstance(exc, PynectorError):
        exc.attempts = attempts


async def call_with_retry(
    policy: RetryPolicy,
    attempt: Callable[[int], Awaitable[T]],
    *,
    on_retry: Callable[[int, Exception, float | None], object] | None = None,
) -> T:
    """Call ``attempt(n)`` (n = 1, 2, ...) until it returns, retrying as *policy* says.

    Blocks for the attempts and the waits between them.

    Args:
        policy: what to retry and how long to wait.
        attempt: the operation; receives the attempt number.
        on_retry: optional observer (telemetry, statistics), called as ``on_retry(n, exc, wait)`` after
            attempt *n* failed with *exc* and before sleeping *wait* seconds, and as
            ``on_retry(n, exc, None)`` when a retryable failure is given up because the retries, the
            ``max_retry_after`` cap or the total deadline ran out. Not called for errors that are not
            retryable. It must not block.

    Raises:
        Exception: the last attempt's exception when it is not retryable, retries are exhausted or
            the policy's budget refused a retry (a note says so), with ``.attempts`` set on pynector
            errors.
        pynector.TimeoutError: when the policy's total ``timeout`` expires during an attempt.
    """
    deadline = math.inf if policy.timeout is None else trio.current_time() + policy.timeout
    budget = policy.budget
    number = 0
    while True:
        number += 1
        # A plain scope, not fail_at: a TooSlowError raised by the attempt itself (a deadline of its
        # own) is that attempt's failure; the policy's deadline passed only when this scope caught it.
        scope = None
        returned = False  # *last* stands for the returned *result* (policy.result_failure)
        try:
            if deadline == math.inf:
                result = await attempt(number)
            else:
                with trio.CancelScope(deadline=deadline) as scope:
                    result = await attempt(number)
        except Exception as exc:
            last = exc
        else:
            if scope is not None and scope.cancelled_caught:
                error = TimeoutError(f"retry deadline of {policy.timeout:g}s expired during attempt {number}")
                error.attempts = number
                if on_retry is not None:
                    on_retry(number, error, None)
                raise error from trio.TooSlowError()
            failure = None if policy.result_failure is None else policy.result_failure(result)
            if failure is None:
                if budget is not None:
                    budget.record_success()
                return result
            last, returned = failure, True
        retryable = policy.is_retryable(last)
        if retryable and budget is not None:
            budget.record_failure()
        # Give up (the retries, the server's wait, the deadline or the budget ran out), or wait.
        wait = 0.0
        if number > policy.max_retries or not retryable:
            give_up = True
            report = retryable and policy.max_retries > 0  # retries exhausted, not a final error
        else:
            wait = policy.wait_before(last, number)
            give_up = report = wait > policy.max_retry_after or trio.current_time() + wait > deadline
            if not give_up and budget is not None and not budget.try_retry():
                last.add_note(f"pynector: retry budget exhausted after attempt {number}; not retried")
                give_up = report = True
        if give_up:
            _attach_attempts(last, number)
            if report and on_retry is not None:
                on_retry(number, last, None)
            if returned:
                return result
            raise last
        if on_retry is not None:
            on_retry(number, last, wait)
        hook = RETRY_WAIT_HOOK.get()
        if hook is not None:
            wait = hook(wait)
        await trio.sleep(wait)
