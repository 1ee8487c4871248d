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

Only ``Exception`` subclasses are considered; ``trio.Cancelled`` and ``KeyboardInterrupt`` propagate
at once, including from the middle of a wait. All timing reads trio's clock, so ``MockClock`` and
``autojump_clock`` make retry tests instant and exact.

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
from typing import TypeVar

import trio

from ._config import validate_count, validate_delay, validate_timeout
from ._errors import ConfigurationError, HTTPStatusError, PynectorError, TimeoutError, TransportError

__all__ = ["RetryPolicy", "call_with_retry"]

T = TypeVar("T")

#: When set, called with each retry wait (seconds) that ``call_with_retry`` is about to sleep; the
#: wait actually slept is what it returns. ``pynector.testing.no_retry_wait()`` sets it to record the
#: waits and sleep zero. A testing hook: applications have no reason to set it.
RETRY_WAIT_HOOK: ContextVar[Callable[[float], float] | None] = ContextVar(
    "pynector_retry_wait_hook", default=None
)


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
        if not isinstance(self.retry_statuses, frozenset):
            object.__setattr__(self, "retry_statuses", frozenset(self.retry_statuses))

    def is_retryable(self, exc: Exception) -> bool:
        """Whether *exc* may be retried (the attempt budget is checked separately)."""
        if isinstance(exc, HTTPStatusError):
            if exc.status_code not in self.retry_statuses:
                return False
        elif not isinstance(exc, self.retry_on):
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
        Exception: the last attempt's exception when it is not retryable or retries are exhausted,
            with ``.attempts`` set on pynector errors.
        pynector.TimeoutError: when the policy's total ``timeout`` expires during an attempt.
    """
    deadline = math.inf if policy.timeout is None else trio.current_time() + policy.timeout
    number = 0
    while True:
        number += 1
        try:
            if deadline == math.inf:
                return await attempt(number)
            with trio.fail_at(deadline):
                return await attempt(number)
        except trio.TooSlowError as exc:
            error = TimeoutError(f"retry deadline of {policy.timeout:g}s expired during attempt {number}")
            error.attempts = number
            if on_retry is not None:
                on_retry(number, error, None)
            raise error from exc
        except Exception as exc:
            last = exc
        if number > policy.max_retries or not policy.is_retryable(last):
            _attach_attempts(last, number)
            exhausted = policy.max_retries > 0 and number > policy.max_retries
            if on_retry is not None and exhausted and policy.is_retryable(last):
                on_retry(number, last, None)
            raise last
        wait = policy.wait_before(last, number)
        if wait > policy.max_retry_after or trio.current_time() + wait > deadline:
            _attach_attempts(last, number)
            if on_retry is not None:
                on_retry(number, last, None)
            raise last
        if on_retry is not None:
            on_retry(number, last, wait)
        hook = RETRY_WAIT_HOOK.get()
        if hook is not None:
            wait = hook(wait)
        await trio.sleep(wait)
