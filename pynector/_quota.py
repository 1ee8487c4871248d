"""Quotas the client learns: pacing from rate-limit headers and 429s, token budgets, shared pauses.

The naive way to live with a service's quota is to retry each 429 on its own: with 64 workers, each one
finds out separately, each sleeps its own ``Retry-After`` and the service keeps seeing bursts (and
counting refused calls against the quota). A fixed ``max_per_second`` needs the quota up front and is
wrong as soon as another process shares it.

A :class:`Quota` instead keeps one state per *key* (per origin for HTTP, per provider and model for the
SDK transports, or what ``key=`` returns) that every worker of every batch using it shares:

* **pacing** is the GCRA bucket of :mod:`pynector._rate` (one *theoretical arrival time* per key,
  reserved without a checkpoint, so concurrent callers get distinct, FIFO start times), for requests
  and, with a token rate, for tokens: a request of cost ``c`` reserves ``c / token_rate`` seconds of
  the token bucket. The cost is charged before sending (``cost(data, options)``, for the SDK transports
  an estimate from the prompt and ``max_tokens``) and settled with the real usage afterwards (the
  difference is given back to, or taken from, the bucket).
* **pauses**: a 429 or 503 with ``Retry-After`` (seconds, HTTP date or ``retry-after-ms``) pauses the
  whole key until then. Every waiting reservation is invalidated (a *generation* counter), so the
  sleepers re-reserve after the pause and leave one by one at the key's rate: no thundering herd at
  the reset instant.
* **learning** (``learn=True``, the default of ``rate_limit="auto"``) is an observer the client calls
  after each attempt (:meth:`Quota.observe`); it never lives inside an engine:

  - rate-limit headers (:mod:`pynector._ratelimit_headers`: IETF, earlier drafts, OpenAI, Anthropic,
    GitHub) set the rate *before* any 429: ``(1 - headroom) * limit / window`` (or what is left until
    the reset for fixed windows), and a key whose remaining count (less the requests in flight) is
    exhausted pauses until one unit is back;
  - without headers, AIMD: a 429 lowers the rate to the throughput the service actually allowed over
    the last cycle, ``accepted / (time since the last pause + requested wait)``, less the headroom
    (multiplicative decrease, at most once per pause: the 429s of requests already in flight do not
    lower it again; once a rate is known one 429 cuts it by at most 10%, because a 429 soon after a
    pause, while the service's window still counts the requests from before it, underestimates);
    each second without one adds ``increase`` of that rate (additive increase).
    Before the first signal the key is not paced at all (only concurrency bounds it).

* **adaptive concurrency** (``adaptive_concurrency=True``): the in-flight limit per key halves on a
  429, a 503 or a timeout and grows back by ``1 / limit`` per success (TCP's AIMD), between 1 and
  ``max_concurrency``.

Time is trio's clock, so every rule here is tested on ``MockClock``. A quota's state can live in Redis
so that several processes share it (:mod:`pynector._quota_redis`, ``redis_url=``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio
from opentelemetry import trace as otel_trace

from ._config import validate_count, validate_delay, validate_rate
from ._errors import ConfigurationError, HTTPStatusError, TimeoutError
from ._ratelimit_headers import RateLimitInfo, parse_rate_limit_headers, retry_after_seconds

__all__ = ["Quota", "QuotaKeyStatistics", "QuotaSender", "resolve_quota"]

#: Statuses that mean "slow down" (they pause the key and lower its rate).
THROTTLE_STATUSES = frozenset({429, 503})
#: The pause when a 429 or 503 gives no ``Retry-After`` and no header says when: it doubles per pause.
FALLBACK_PAUSE = 1.0
_KEY_CACHE_SIZE = 512
#: Key states kept before idle ones are dropped (see :meth:`Quota._prune`).
_PRUNE_AT = 1024
#: The largest cut of a known rate that one 429 makes (the first 429 sets the rate outright).
MAX_DECREASE = 0.1
#: A key whose responses carry no rate-limit headers reads the headers of one response in this many.
HEADER_PROBE_EVERY = 8


@dataclass(frozen=True, slots=True)
class QuotaKeyStatistics:
    """The state of one key of a :class:`Quota` (see :meth:`Quota.statistics`).

    Attributes:
        key: the key (an origin tuple, ``(provider, model)``, or what ``key=`` returned).
        rate: the request rate it is paced at (per second), or ``None`` while unknown (not paced).
        token_rate: the token rate (per second), or ``None``.
        source: where the rate comes from: ``"configured"``, ``"headers"``, ``"learned"`` or ``"none"``.
        paused_for: seconds the key stays paused from now (0 when not paused).
        pauses: pauses so far (429s and 503s, and remaining counts that ran out).
        throttled: responses answered 429 or 503.
        tokens_left: tokens the token bucket could spend right now, or ``None`` without a token rate.
        in_flight: attempts of this key running now.
        concurrency_limit: the adaptive in-flight limit, or ``None`` when adaptive concurrency is off.
    """

    key: Hashable
    rate: float | None
    token_rate: float | None
    source: str
    paused_for: float
    pauses: int
    throttled: int
    tokens_left: float | None
    in_flight: int
    concurrency_limit: int | None


class _KeyState:
    """The mutable state of one key. Plain attributes: trio runs one task at a time."""

    __slots__ = (
        "accepted",
        "concurrency",
        "decreases",
        "epoch",
        "fallback",
        "generation",
        "headers_seen",
        "in_flight",
        "in_flight_cost",
        "key",
        "last_increase",
        "lot",
        "paused_until",
        "pauses",
        "probe",
        "rate",
        "source",
        "tat",
        "throttled",
        "token_rate",
        "token_source",
        "token_tat",
    )

    def __init__(
        self, key: Hashable, rate: float | None, token_rate: float | None, concurrency: float
    ) -> None:
        self.key = key
        self.rate = rate
        self.token_rate = token_rate
        self.source = "configured" if rate is not None else "none"
        self.token_source = "configured" if token_rate is not None else "none"
        self.tat = -math.inf
        self.token_tat = -math.inf
        self.paused_until = -math.inf
        self.generation = 0
        self.in_flight = 0
        self.in_flight_cost = 0.0
        self.accepted = 0
        self.epoch = trio.current_time()
        self.decreases = 0
        self.headers_seen = False
        self.probe = 0
        self.last_increase = self.epoch
        self.fallback = FALLBACK_PAUSE
        self.pauses = 0
        self.throttled = 0
        self.concurrency = concurrency
        self.lot: trio.lowlevel.ParkingLot | None = None


class Quota:
    """Stay inside a service's quota: pace requests and tokens per key, learn the rate, pause on 429.

    Pass one to a client (``Pynector(rate_limit=Quota(...))``) or a batch
    (``batch_request(..., rate_limit=quota)``); ``rate_limit="auto"`` is ``Quota()`` (learn
    everything), shared by every batch of that client. The state (rates, pauses, buckets) lives in the
    object: share the object to share the quota. See the module docstring for the rules. Requests,
    retries and batch items go through it; ``client.stream(...)`` does not.

    Args:
        requests_per_minute: a known request quota (paced at this rate less *headroom*); learning can
            only lower it.
        tokens_per_minute: a known token quota (needs a *cost*; the SDK transports bring their own).
        learn: learn from rate-limit headers and 429s (default True).
        key: ``key(data, options) -> key``; default: per origin for HTTP transports, per provider and
            model for the SDK transports, one key otherwise.
        cost: ``cost(data, options) -> tokens`` charged before sending; default: for the SDK
            transports, an estimate (prompt characters / 4 + ``max_tokens``), else nothing.
        usage: ``usage(result) -> tokens`` actually used, to settle the charge; default: the token
            usage an SDK reply reports (:class:`pynector.Usage`), else the charge stands.
        headroom: the fraction of a stated or learned limit left unused (default 0.05).
        increase: additive increase per second without a 429, as a fraction of the learned rate
            (default 0.002).
        max_pause: the longest pause honoured, in seconds (default 300); longer requests are cut.
        adaptive_concurrency: shrink the in-flight limit per key on 429/503/timeouts, grow it back
            slowly (default False).
        max_concurrency: the ceiling of the adaptive in-flight limit (default 100).
        redis_url: keep the state in Redis, shared by every process using the same URL and *name*
            (needs the ``redis`` extra).
        name: the Redis key prefix (default ``"pynector:quota"``).
        on_redis_error: ``"fail"`` (default: raise :class:`pynector.QuotaStoreError`) or ``"local"``
            (fall back to this process's state, with a warning) when Redis cannot be reached.

    Raises:
        pynector.ConfigurationError: for an invalid value.
    """

    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        learn: bool = True,
        key: Callable[[Any, Mapping[str, Any]], Hashable] | None = None,
        cost: Callable[[Any, Mapping[str, Any]], float] | None = None,
        usage: Callable[[Any], float | None] | None = None,
        headroom: float = 0.05,
        increase: float = 0.002,
        max_pause: float = 300.0,
        adaptive_concurrency: bool = False,
        max_concurrency: int = 100,
        redis_url: str | None = None,
        name: str = "pynector:quota",
        on_redis_error: str = "fail",
    ) -> None:
        rpm = validate_rate(requests_per_minute, "requests_per_minute")
        tpm = validate_rate(tokens_per_minute, "tokens_per_minute")
        for flag, label in ((learn, "learn"), (adaptive_concurrency, "adaptive_concurrency")):
            if not isinstance(flag, bool):
                raise ConfigurationError(f"{label} must be True or False, got {flag!r}")
        for fn, label in ((key, "key"), (cost, "cost"), (usage, "usage")):
            if fn is not None and not callable(fn):
                raise ConfigurationError(f"{label} must be a callable or None, got {fn!r}")
        if not 0 <= validate_delay(headroom, "headroom") < 1:
            raise ConfigurationError(f"headroom must be in [0, 1), got {headroom!r}")
        if on_redis_error not in ("fail", "local"):
            raise ConfigurationError(f"on_redis_error must be 'fail' or 'local', got {on_redis_error!r}")
        if redis_url is not None and not isinstance(redis_url, str):
            raise ConfigurationError(f"redis_url must be a string, got {type(redis_url).__name__}")
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"name must be a non-empty string, got {name!r}")
        self.requests_per_minute = rpm
        self.tokens_per_minute = tpm
        self.learn = learn
        self.key = key
        self.cost = cost
        self.usage = usage
        self.headroom = float(headroom)
        self.increase = validate_delay(increase, "increase")
        self.max_pause = validate_delay(max_pause, "max_pause")
        self.adaptive_concurrency = adaptive_concurrency
        self.max_concurrency = validate_count(max_concurrency, "max_concurrency", 1)
        self.redis_url = redis_url
        self.name = name
        self.on_redis_error = on_redis_error
        self._rate = None if rpm is None else rpm / 60.0 * (1.0 - self.headroom)
        self._token_rate = None if tpm is None else tpm / 60.0 * (1.0 - self.headroom)
        self._keys: dict[Hashable, _KeyState] = {}
        self._prune_at = _PRUNE_AT
        self._key_cache: dict[str, Hashable] = {}
        self.telemetry = False  # set by a client with telemetry on: span events and log events
        self.store: Any = None  # a shared store (Redis) once opened; None: this process's state
        self.fallback = False  # Redis was unreachable and on_redis_error="local": local state is used

    @property
    def configured_rate(self) -> float | None:
        """The request rate (per second) a known ``requests_per_minute`` allows, less the headroom."""
        return self._rate

    @property
    def configured_token_rate(self) -> float | None:
        """The token rate (per second) a known ``tokens_per_minute`` allows, less the headroom."""
        return self._token_rate

    def open(self) -> AbstractAsyncContextManager[object]:
        """Connect to the shared store (``redis_url``) for the duration of an ``async with`` block.

        ``async with Pynector(rate_limit=quota)`` does this for the client's quota. Without
        ``redis_url`` the block does nothing.

        Raises:
            pynector.QuotaStoreError: Redis cannot be reached and ``on_redis_error="fail"``.
            pynector.ConfigurationError: the ``redis`` extra is not installed.
        """
        if self.redis_url is None:
            return nullcontext()
        from ._quota_redis import open_store

        return open_store(self)

    @classmethod
    def auto(cls) -> Quota:
        """``Quota()``: learn the rate of every key from headers and 429s (``rate_limit="auto"``)."""
        return cls()

    def __repr__(self) -> str:
        parts = []
        if self.requests_per_minute is not None:
            parts.append(f"requests_per_minute={self.requests_per_minute:g}")
        if self.tokens_per_minute is not None:
            parts.append(f"tokens_per_minute={self.tokens_per_minute:g}")
        parts.append(f"learn={self.learn}")
        if self.redis_url is not None:
            parts.append("redis")
        return f"Quota({', '.join(parts)})"

    # --- keys -----------------------------------------------------------------------------------

    def key_for(self, transport: object, data: Any, options: Mapping[str, Any]) -> Hashable:
        """The key of one request: ``key(data, options)``, else the transport's origin or model."""
        if self.key is not None:
            return self.key(data, options)
        raw = data.get("url", data.get("path")) if isinstance(data, Mapping) else None
        if isinstance(raw, str):
            cached = self._key_cache.get(raw)
            if cached is not None:
                return cached
        hook = getattr(transport, "span_attributes", None)
        if hook is None:
            return None
        try:
            attributes = hook(data, options)
        except Exception:  # the request itself will report the problem
            return None
        key: Hashable = None
        system = attributes.get("gen_ai.system")
        if system is not None:
            key = (system, attributes.get("gen_ai.request.model"))
        elif "server.address" in attributes:
            url = str(attributes.get("url.full", ""))
            scheme = url.partition(":")[0] if "://" in url else "http"
            key = (scheme, attributes["server.address"], attributes.get("server.port"))
        if isinstance(raw, str):
            if len(self._key_cache) >= _KEY_CACHE_SIZE:
                self._key_cache.clear()
            self._key_cache[raw] = key
        return key

    def _state(self, key: Hashable) -> _KeyState:
        state = self._keys.get(key)
        if state is None:
            keys = self._keys
            if len(keys) >= self._prune_at:
                self._prune()
            state = _KeyState(key, self._rate, self._token_rate, float(self.max_concurrency))
            keys[key] = state
        return state

    def _prune(self) -> None:
        """Drop the keys that learned nothing and hold nothing (their state equals a fresh one's), so
        an endless batch over many origins keeps bounded memory; learned rates are kept."""
        now = trio.current_time()
        for key in [
            key
            for key, state in self._keys.items()
            if state.in_flight == 0
            and state.paused_until <= now
            and state.source in ("none", "configured")
            and state.token_source in ("none", "configured")
            and state.tat <= now
            and state.token_tat <= now
        ]:
            del self._keys[key]
        self._prune_at = max(_PRUNE_AT, 2 * len(self._keys))

    # --- acquire --------------------------------------------------------------------------------

    def _reserve(self, state: _KeyState, now: float, cost: float) -> float:
        """Reserve the next start time of *state* for a request of *cost* tokens (no checkpoint)."""
        start = now if state.paused_until < now else state.paused_until
        rate = state.rate
        if rate is not None and state.tat > start:
            start = state.tat
        token_rate = state.token_rate
        if token_rate is not None and cost and state.token_tat > start:
            start = state.token_tat
        if rate is not None:
            state.tat = start + 1.0 / rate
        if token_rate is not None and cost:
            # The token bucket holds up to one second of tokens (or one request's worth).
            base = state.token_tat if state.token_tat > start - 1.0 else start - 1.0
            state.token_tat = base + cost / token_rate
        return start

    def try_acquire(self, key: Hashable, cost: float = 0.0) -> _KeyState | None:
        """Take a slot of *key* if one is free right now (no wait, no checkpoint), else ``None``.

        The fast path of :meth:`acquire`: the caller awaits :meth:`acquire` when this says no.
        """
        if self.store is not None or self.redis_url is not None:
            return None
        state = self._keys.get(key)
        if state is None:
            state = self._state(key)
        if self.adaptive_concurrency and state.in_flight >= int(state.concurrency):
            return None
        if state.rate is None and state.token_rate is None and state.paused_until == -math.inf:
            state.in_flight += 1  # never paced nor paused: no clock to read
            state.in_flight_cost += cost
            return state
        now = trio.current_time()
        if state.paused_until > now:
            return None
        state.paused_until = -math.inf
        rate = state.rate
        if rate is not None and state.tat > now:
            return None
        if cost and state.token_rate is not None and state.token_tat > now:
            return None
        self._reserve(state, now, cost)
        state.in_flight += 1
        state.in_flight_cost += cost
        return state

    async def acquire(self, key: Hashable, cost: float = 0.0) -> _KeyState:
        """Wait until *key* may send one more request of *cost* tokens, and take that slot.

        Blocks while the key is paused or paced, and (with adaptive concurrency) while its in-flight
        limit is reached. A checkpoint only when it waits. Every successful acquire must be followed
        by exactly one :meth:`observe` or :meth:`release`.

        Raises:
            trio.Cancelled: when cancelled while waiting (nothing is held then).
            pynector.QuotaStoreError: the shared store cannot be reached (``on_redis_error="fail"``).
        """
        state = self._keys.get(key)
        if state is None:
            state = self._state(key)
        if self.store is not None:
            await self.store.acquire(self, state, cost)
        elif self.redis_url is not None and not self.fallback:
            raise ConfigurationError(
                "a Quota with redis_url must be connected first: give it to the client "
                "(async with Pynector(rate_limit=quota)) or use async with quota.open()"
            )
        if self.store is None:
            while True:
                now = trio.current_time()
                generation = state.generation
                start = self._reserve(state, now, cost)
                if start <= now:
                    break
                await trio.sleep_until(start)
                if state.generation == generation:
                    break
                # A pause or a lower rate arrived while sleeping: reserve again under the new rules.
        if self.adaptive_concurrency:
            while state.in_flight >= int(state.concurrency):
                if state.lot is None:
                    state.lot = trio.lowlevel.ParkingLot()
                await state.lot.park()
        state.in_flight += 1
        state.in_flight_cost += cost
        return state

    def release(self, state: _KeyState, cost: float = 0.0) -> None:
        """Give back the in-flight slot of an attempt that ended without an answer (cancelled)."""
        state.in_flight -= 1
        if cost:
            state.in_flight_cost -= cost
        if state.lot:  # a parking lot with sleepers is true
            state.lot.unpark()

    # --- the observer ---------------------------------------------------------------------------

    def observe(
        self,
        state: _KeyState,
        decreases: int,
        cost: float,
        result: Any,
        error: BaseException | None,
    ) -> None:
        """Learn from one attempt's outcome (*result*, or *error*); never blocks, never raises.

        Called by the client after each attempt that it started through :meth:`acquire`;
        *decreases* is ``state.decreases`` when the attempt was sent (a 429 of a request sent before
        the last decrease does not lower the rate again).
        """
        state.in_flight -= 1
        if cost:
            state.in_flight_cost -= cost
        if state.lot:  # a parking lot with sleepers is true
            state.lot.unpark()
        if error is None:
            status = getattr(result, "status_code", None)
            if status is None:  # not an HTTP-like response: nothing to read, count the success
                state.accepted += 1
                if cost and state.token_rate is not None:
                    self._settle(state, cost, result, None, None)
                if state.source == "learned" and self.learn and self.increase:
                    self._increase(state, trio.current_time())
                if self.adaptive_concurrency and state.concurrency < self.max_concurrency:
                    self._grow_concurrency(state)
                return
        self._observe_response(state, decreases, cost, result, error)

    def _observe_response(
        self, state: _KeyState, decreases: int, cost: float, result: Any, error: BaseException | None
    ) -> None:
        now = trio.current_time()
        status: int | None = None
        headers: Any = None
        retry_after: float | None = None
        if error is None:
            status = getattr(result, "status_code", None)
            if status is not None and self.learn and self._look_at_headers(state, status):
                headers = getattr(result, "headers", None)
        elif isinstance(error, HTTPStatusError):
            status = error.status_code
            retry_after = error.retry_after
            headers = getattr(error.response, "headers", None)
        elif isinstance(error, TimeoutError) and self.adaptive_concurrency:
            self._shrink_concurrency(state)
        if cost and state.token_rate is not None:
            self._settle(state, cost, result, error, status)
        throttled = status in THROTTLE_STATUSES
        if headers is not None and (self.learn or throttled):
            try:
                if throttled and retry_after is None:
                    retry_after = retry_after_seconds(headers)
                infos = parse_rate_limit_headers(headers) if self.learn else []
            except Exception:  # a headers object of an unexpected shape: learn nothing from it
                infos = []
            state.headers_seen = bool(infos)
            if infos:
                self._apply_headers(state, infos, now)
        if throttled:
            self._throttled(state, now, decreases, retry_after)
        elif error is None and (status is None or status < 400):
            state.accepted += 1
            if self.learn and state.source == "learned" and self.increase:
                self._increase(state, now)
            if self.adaptive_concurrency and state.concurrency < self.max_concurrency:
                self._grow_concurrency(state)

    def _look_at_headers(self, state: _KeyState, status: int) -> bool:
        """Whether to read this response's headers: always for a 429/503 or while the key's responses
        carry rate-limit headers; else one response in :data:`HEADER_PROBE_EVERY` (reading and
        parsing headers costs microseconds, and most services never send them)."""
        if state.headers_seen or status in THROTTLE_STATUSES:
            return True
        state.probe += 1
        return state.probe % HEADER_PROBE_EVERY == 1

    def _grow_concurrency(self, state: _KeyState) -> None:
        state.concurrency = min(float(self.max_concurrency), state.concurrency + 1.0 / state.concurrency)

    def _settle(
        self, state: _KeyState, cost: float, result: Any, error: BaseException | None, status: int | None
    ) -> None:
        """Give back (or take) the difference between the charged *cost* and the real usage."""
        token_rate = state.token_rate
        assert token_rate is not None
        if error is not None or (status is not None and status >= 400):
            used: float | None = 0.0 if status in THROTTLE_STATUSES else None
        else:
            used = self._used_tokens(result)
        if used is None or not math.isfinite(used) or used < 0:
            return
        state.token_tat -= (cost - used) / token_rate
        if self.store is not None:
            self.store.settle(state, cost - used)

    def _used_tokens(self, result: Any) -> float | None:
        if self.usage is not None:
            try:
                used = self.usage(result)
            except Exception:
                return None
            return None if used is None else float(used)
        usage = getattr(result, "usage", None)
        total = getattr(usage, "total_tokens", None)
        return float(total) if isinstance(total, (int, float)) and not isinstance(total, bool) else None

    def _apply_headers(self, state: _KeyState, infos: list[RateLimitInfo], now: float) -> None:
        """Set the rates the headers announce; pause when a remaining count ran out."""
        for info in infos:
            tokens = info.unit == "tokens"
            target = info.sustained_rate
            if target is None and info.remaining is not None and info.reset:
                if info.refill and info.limit is not None and info.limit > info.remaining:
                    target = (info.limit - info.remaining) / info.reset
                elif not info.refill:
                    target = info.remaining / info.reset
            if target is not None and target > 0:
                self._set_rate(state, target * (1.0 - self.headroom), tokens, "headers", now)
            if info.remaining is not None:
                in_flight = state.in_flight_cost if tokens else state.in_flight
                if info.remaining - in_flight < 1:
                    wait = info.wait_for_one()
                    if wait is not None and wait > 0:
                        self._pause(state, now, wait, "remaining quota ran out")

    def _set_rate(self, state: _KeyState, rate: float, tokens: bool, source: str, now: float) -> None:
        ceiling = self._token_rate if tokens else self._rate
        if ceiling is not None and rate > ceiling:
            rate = ceiling
        old = state.token_rate if tokens else state.rate
        if old is not None and abs(rate - old) <= 1e-9 * old:
            return
        if tokens:
            state.token_rate = rate
            state.token_source = source
        else:
            state.rate = rate
            state.source = source
            state.last_increase = now
        if old is not None and rate < 0.9 * old:
            # Reservations made at the old rate are too close together: make the sleepers re-reserve.
            state.generation += 1
            state.tat = now
        if self.store is not None and source == "headers":
            self.store.set_rate(state, rate, tokens)
        if self.telemetry and (old is None or rate < old):
            _log_rate(state, "tokens" if tokens else "requests", old, rate, source)

    def _increase(self, state: _KeyState, now: float) -> None:
        rate = state.rate
        assert rate is not None
        elapsed = now - state.last_increase
        if elapsed <= 0:
            return
        state.last_increase = now
        new = rate * (1.0 + self.increase * elapsed)
        if self._rate is not None and new > self._rate:
            new = self._rate
        state.rate = new

    def _throttled(self, state: _KeyState, now: float, decreases: int, retry_after: float | None) -> None:
        """A 429 or 503: pause the key, lower its rate once per pause, shrink its concurrency."""
        state.throttled += 1
        if retry_after is None or not math.isfinite(retry_after) or retry_after < 0:
            wait = state.fallback
            state.fallback = min(state.fallback * 2.0, 60.0)
        else:
            wait = retry_after
            state.fallback = FALLBACK_PAUSE
        wait = min(wait, self.max_pause)
        if decreases != state.decreases:
            # Sent before the last decrease: its 429 is old news (but its Retry-After still counts).
            self._pause(state, now, wait, "429/503")
            return
        if self.adaptive_concurrency:
            self._shrink_concurrency(state)
        if self.learn and self.store is not None:
            self.store.decrease(state, wait, decreases)  # computed from every process's requests
        elif self.learn:
            period = (now - state.epoch) + wait
            estimate = state.accepted / period if state.accepted > 0 and period > 0 else None
            old = state.rate
            if estimate is not None:
                new = estimate * (1.0 - self.headroom)
                if old is not None:
                    # A short cycle (a 429 soon after a pause, while the service's window still holds
                    # the requests from before it) underestimates: cut at most MAX_DECREASE at once.
                    new = min(old, max(new, old * (1.0 - MAX_DECREASE)))
            elif old is not None:
                new = old * (1.0 - MAX_DECREASE)
            else:
                new = None
            if new is not None:
                new = max(new, 1.0 / self.max_pause) if self.max_pause else new
                source = state.source if state.source == "headers" else "learned"
                self._set_rate(state, new, False, source, now)
                state.generation += 1
                state.tat = now + wait
        state.decreases += 1
        state.accepted = 0
        state.epoch = now + wait
        self._pause(state, now, wait, "429/503")

    def _shrink_concurrency(self, state: _KeyState) -> None:
        state.concurrency = max(1.0, state.concurrency / 2.0)

    def _pause(self, state: _KeyState, now: float, wait: float, reason: str) -> None:
        until = now + wait
        if until <= state.paused_until:
            return
        state.paused_until = until
        state.pauses += 1
        state.generation += 1  # sleepers re-reserve after the pause, one by one at the key's rate
        if state.tat < until:
            state.tat = until
        if self.store is not None:
            self.store.pause(state, wait)
        if self.telemetry:
            _report_pause(state, wait, reason)

    # --- statistics -----------------------------------------------------------------------------

    def statistics(self) -> tuple[QuotaKeyStatistics, ...]:
        """One frozen snapshot per key. Cheap; never blocks (outside ``trio.run``, pauses read as over)."""
        try:
            now = trio.current_time()
        except RuntimeError:
            now = math.inf
        snapshots = []
        for state in self._keys.values():
            tokens_left = None
            if state.token_rate is not None:
                tokens_left = max(0.0, min(1.0, now - state.token_tat + 1.0)) * state.token_rate
            snapshots.append(
                QuotaKeyStatistics(
                    key=state.key,
                    rate=state.rate,
                    token_rate=state.token_rate,
                    source=state.source,
                    paused_for=max(0.0, state.paused_until - now),
                    pauses=state.pauses,
                    throttled=state.throttled,
                    tokens_left=tokens_left,
                    in_flight=state.in_flight,
                    concurrency_limit=int(state.concurrency) if self.adaptive_concurrency else None,
                )
            )
        return tuple(snapshots)


def _describe_key(key: Hashable) -> str:
    if isinstance(key, tuple) and len(key) == 3:
        return f"{key[0]}://{key[1]}:{key[2]}"
    if isinstance(key, tuple):
        return "/".join(str(part) for part in key)
    return "default" if key is None else str(key)


def _report_pause(state: _KeyState, wait: float, reason: str) -> None:
    """A span event on the current span and a WARNING log event: a key paused."""
    from ._telemetry import _WARNING, _emit, _loguru_accepts

    span = otel_trace.get_current_span()
    if span.is_recording():
        span.add_event(
            "pynector.quota.pause",
            {"pynector.quota.key": _describe_key(state.key), "pynector.quota.wait_s": wait},
        )
    if _loguru_accepts(_WARNING):
        _emit(
            _WARNING,
            "pynector quota paused",
            {"quota_key": _describe_key(state.key), "wait_s": wait, "reason": reason},
        )


def _log_rate(state: _KeyState, unit: str, old: float | None, new: float, source: str) -> None:
    """A log event: a rate was learned (DEBUG) or lowered (WARNING)."""
    from ._telemetry import _DEBUG, _WARNING, _emit, _loguru_accepts

    level = _DEBUG if old is None else _WARNING
    if _loguru_accepts(level):
        message = "pynector quota rate learned" if old is None else "pynector quota rate lowered"
        _emit(
            level,
            message,
            {"quota_key": _describe_key(state.key), "unit": unit, "rate": new, "source": source},
        )


def resolve_quota(value: object, default: Quota | None = None) -> Quota | None:
    """A :class:`Quota` from a ``rate_limit=`` argument: ``None``, ``"auto"`` or a Quota.

    ``"auto"`` resolves to *default* when given (the client's shared quota), else a new ``Quota()``.

    Raises:
        pynector.ConfigurationError: for anything else.
    """
    if value is None or isinstance(value, Quota):
        return value
    if value == "auto":
        return default if default is not None else Quota()
    raise ConfigurationError(f"rate_limit must be None, 'auto' or a pynector.Quota, got {value!r}")


def estimate_tokens(transport: object, data: Any, options: Mapping[str, Any]) -> float:
    """An SDK request's token estimate: prompt characters / 4 plus ``max_tokens`` (else 1024).

    Counts the text of a prompt, or of a call's ``messages``/``prompt``/``system``; the output part is
    the request's ``max_tokens`` (or ``max_completion_tokens``), from the call, the options or the
    transport's defaults.
    """
    defaults = getattr(transport, "defaults", None)
    sources = [
        data if isinstance(data, Mapping) else {},
        options,
        defaults if isinstance(defaults, Mapping) else {},
    ]
    max_tokens: Any = None
    for source in sources:
        max_tokens = source.get("max_tokens", source.get("max_completion_tokens"))
        if max_tokens is not None:
            break
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, float)) or max_tokens < 0:
        max_tokens = 1024
    if isinstance(data, (str, bytes)):
        chars = len(data)
    elif isinstance(data, Mapping):
        chars = _text_length(data.get("messages")) + _text_length(data.get("prompt"))
        chars += _text_length(data.get("system"))
    else:
        chars = 0
    return chars / 4.0 + float(max_tokens)


def _text_length(value: object, depth: int = 0) -> int:
    if isinstance(value, (str, bytes)):
        return len(value)
    if depth > 4:
        return 0
    if isinstance(value, Mapping):
        return _text_length(value.get("content"), depth + 1) + _text_length(value.get("text"), depth + 1)
    if isinstance(value, (list, tuple)):
        return sum(_text_length(item, depth + 1) for item in value)
    return 0


class QuotaSender:
    """One attempt through *exchange* inside *quota*: acquire, send, observe (the client's hook).

    Built once per client (or batch) and transport, so that the per-request path looks nothing up:
    the key and cost functions are chosen here. Waiting for the quota happens before the attempt's
    own timeout starts (a pause is not the request being slow); a batch deadline or the caller's
    cancel scope still bounds it.
    """

    __slots__ = ("_cost", "_exchange", "_key", "quota")

    def __init__(self, quota: Quota, transport: object, exchange: Callable[..., Any]) -> None:
        self.quota = quota
        self._exchange = exchange
        if quota.key is not None:
            self._key: Callable[[Any, Mapping[str, Any]], Hashable] | None = quota.key
        elif getattr(transport, "span_attributes", None) is None:
            self._key = None  # no way to tell requests apart: one key
        else:
            self._key = partial(quota.key_for, transport)
        if quota.cost is not None:
            self._cost: Callable[[Any, Mapping[str, Any]], float] | None = quota.cost
        elif (
            getattr(transport, "provider", None) is not None
            and getattr(transport, "defaults", None) is not None
        ):
            self._cost = partial(estimate_tokens, transport)
        else:
            self._cost = None

    async def __call__(
        self, data: Any, timeout: float | None, options: Mapping[str, Any], resend_count: int = 0
    ) -> Any:
        """Make one attempt inside the quota.

        Raises:
            Exception: what the attempt raised (after the quota observed it).
            pynector.QuotaStoreError: the shared store cannot be reached (``on_redis_error="fail"``).
        """
        quota = self.quota
        key = None if self._key is None else self._key(data, options)
        cost = 0.0 if self._cost is None else float(self._cost(data, options))
        state = quota.try_acquire(key, cost)
        if state is None:
            state = await quota.acquire(key, cost)
        decreases = state.decreases
        try:
            result = await self._exchange(data, timeout, options, resend_count)
        except Exception as exc:
            quota.observe(state, decreases, cost, None, exc)
            raise
        except BaseException:
            quota.release(state, cost)
            raise
        quota.observe(state, decreases, cost, result, None)
        return result
