"""Rate limiting: a token bucket on trio's clock, written as GCRA with reservations.

A token bucket with rate ``R`` per second and burst ``B`` lets ``B`` calls through at once and then one
every ``1/R`` seconds. The textbook implementation refills a counter on a timer or on each call and makes
waiters poll; with many waiters that polls, wakes them in no particular order and drifts.

We keep one number per bucket instead, the *theoretical arrival time* ``tat`` of the generic cell rate
algorithm (GCRA, the ATM-era formulation of the same bucket). With ``T = 1/R`` and tolerance
``tau = (B - 1) * T``, a call arriving at ``now``::

    tat   = max(tat, now)
    start = max(now, tat - tau)         # when this call may go
    tat   = tat + T                     # reserved: the next call starts at least T later

``start`` is computed and reserved synchronously (no checkpoint), so concurrent callers get distinct,
FIFO-ordered start times without a lock, then each sleeps until its own ``start`` with
``trio.sleep_until``. Consequences, both tested under ``autojump_clock``: ``N`` calls made at once start
at ``0`` (the first ``B``), then ``T, 2T, ...``, so the last starts at ``(N - B) / R``; and any window of
``w`` seconds holds at most ``B + floor(w * R)`` starts. A caller cancelled while waiting gives its
reservation back when nobody reserved after it; otherwise the slot is simply lost, which can only make
the limiter stricter, never looser.

Buckets can be keyed (for example by host, with a key function on a batch): a bucket whose ``tat`` is in
the past is full, identical to a fresh one, so idle buckets are dropped when the table grows and an
endless batch over many hosts keeps bounded memory.
"""

from __future__ import annotations

from collections.abc import Hashable

import trio

from ._config import validate_count, validate_rate
from ._errors import ConfigurationError

__all__ = ["RateLimiter"]

_PRUNE_AT = 1024


class RateLimiter:
    """At most ``max_per_second`` calls per second per key, with bursts of up to ``burst`` calls.

    Args:
        max_per_second: the sustained rate, a finite number > 0.
        burst: how many calls may start at once after an idle period (>= 1; default 1, strict spacing).

    Raises:
        pynector.ConfigurationError: for an invalid rate or burst.
    """

    __slots__ = ("_buckets", "_interval", "_prune_at", "_tolerance", "burst", "max_per_second")

    def __init__(self, max_per_second: float, burst: int = 1) -> None:
        rate = validate_rate(max_per_second)
        if rate is None:
            raise ConfigurationError("max_per_second must be a finite number > 0, got None")
        self.max_per_second = rate
        self.burst = validate_count(burst, "burst", 1)
        self._interval = 1.0 / rate
        self._tolerance = (self.burst - 1) * self._interval
        self._buckets: dict[Hashable, float] = {}
        self._prune_at = _PRUNE_AT

    async def acquire(self, key: Hashable = None) -> None:
        """Wait until the bucket for *key* lets one more call through, and take that slot.

        Always a checkpoint. Blocks for as long as the rate requires; callers are served in the order
        they called.

        Raises:
            trio.Cancelled: when cancelled while waiting (the slot is given back when possible).
        """
        now = trio.current_time()
        buckets = self._buckets
        tat = buckets.get(key, now)
        if tat < now:
            tat = now
        start = tat - self._tolerance
        if start < now:
            start = now
        reserved = tat + self._interval
        buckets[key] = reserved
        if len(buckets) > self._prune_at:
            self._prune(now)
        try:
            await trio.sleep_until(start)
        except BaseException:
            if buckets.get(key) == reserved:
                buckets[key] = tat
            raise

    def _prune(self, now: float) -> None:
        """Drop buckets that are full again (their state equals a fresh bucket's)."""
        buckets = self._buckets
        for key in [key for key, tat in buckets.items() if tat <= now]:
            del buckets[key]
        self._prune_at = max(_PRUNE_AT, 2 * len(buckets))

    def __repr__(self) -> str:
        return f"RateLimiter(max_per_second={self.max_per_second:g}, burst={self.burst})"
