"""A :class:`~pynector.Quota` shared by several processes (or machines): its state in Redis.

Each key of the quota is one Redis hash (``<name>:<key>``) holding what the in-process state holds:
the GCRA arrival times for requests and tokens, the pause, the shared rates, and the AIMD counters
(requests granted since the last decrease, how many decreases so far). One Lua script does everything a
process needs per request, atomically, in one round trip:

1. apply the observations this process made since its last call (a pause and how long, a rate learned
   from headers, a decrease after a 429, tokens given back after settling), queued locally because the
   observer never blocks;
2. reserve the next start time, exactly like the local GCRA, on Redis's clock (``TIME``), so that the
   clocks of the processes do not matter;
3. return the wait (relative seconds, slept on trio's clock), the shared rates, the pause left and the
   decrease count (a 429 of a request sent before some process's decrease does not lower the rate
   again: the script compares counts).

A decrease is computed in the script from the requests *all* processes were granted since the last
one, so N processes learn the one shared rate, not N times a share of it. A process that sleeps on a
reservation made before another process's pause may still send once during that pause; it meets a
429, and the pause it learns from is the same.

The client is coredis (``pip install 'pynector-trio[redis]'``), which runs on anyio and so on trio. Its
client lives in a task group that must be entered and left by one task, so the store is opened by
``async with Pynector(rate_limit=Quota(redis_url=...))`` (or ``async with quota.open()``), never
lazily by whichever worker comes first. When Redis cannot be reached, ``on_redis_error="fail"`` raises
:class:`~pynector.QuotaStoreError`; ``"local"`` warns once (a ``RuntimeWarning``) and carries on with
this process's own state.
"""

from __future__ import annotations

import math
import urllib.parse
import warnings
from collections.abc import AsyncIterator, Hashable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from ._errors import ConfigurationError, QuotaStoreError, describe_exception
from ._redact import redact_url

if TYPE_CHECKING:
    from ._quota import Quota, _KeyState

__all__ = ["ACQUIRE_SCRIPT", "RedisQuotaStore", "open_store"]

#: Seconds an idle key's hash lives in Redis (the script's ``EXPIRE``).
KEY_TTL = 3600

ACQUIRE_SCRIPT = """
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cost = tonumber(ARGV[1])
local ceiling = tonumber(ARGV[2])
local token_ceiling = tonumber(ARGV[3])
local headroom = tonumber(ARGV[4])
local h = redis.call('HMGET', key, 'tat', 'ttat', 'paused', 'rate', 'trate', 'granted', 'epoch', 'dec')
local tat = tonumber(h[1]) or 0
local ttat = tonumber(h[2]) or 0
local paused = tonumber(h[3]) or 0
local rate = tonumber(h[4])
local trate = tonumber(h[5])
local granted = tonumber(h[6]) or 0
local epoch = tonumber(h[7]) or now
local dec = tonumber(h[8]) or 0
if ceiling > 0 and (rate == nil or rate > ceiling) then rate = ceiling end
if token_ceiling > 0 and (trate == nil or trate > token_ceiling) then trate = token_ceiling end
local i = 5
while i + 2 <= #ARGV do
  local kind = ARGV[i]
  local a = tonumber(ARGV[i + 1])
  local b = tonumber(ARGV[i + 2])
  if kind == 'pause' then
    if now + a > paused then paused = now + a end
    if tat < paused then tat = paused end
  elseif kind == 'rate' then
    if b == 1 then
      trate = a
    else
      if rate ~= nil and a < 0.9 * rate then tat = math.max(now, paused) end
      rate = a
    end
  elseif kind == 'decrease' then
    if b == dec then
      local period = now - epoch + a
      if granted > 0 and period > 0 then
        local estimate = granted / period * (1 - headroom)
        if rate == nil then
          rate = estimate
        elseif estimate < rate then
          rate = math.max(estimate, rate * 0.9)
        end
      elseif rate ~= nil then
        rate = rate * 0.9
      end
      dec = dec + 1
      granted = 0
      epoch = now + a
      tat = now + a
    end
    if now + a > paused then paused = now + a end
  elseif kind == 'settle' then
    if trate ~= nil and trate > 0 then ttat = ttat - a / trate end
  end
  i = i + 3
end
local start = now
if paused > start then start = paused end
if rate ~= nil and tat > start then start = tat end
if trate ~= nil and cost > 0 and ttat > start then start = ttat end
if rate ~= nil then tat = start + 1 / rate end
if trate ~= nil and cost > 0 then
  local base = ttat
  if base < start - 1 then base = start - 1 end
  ttat = base + cost / trate
end
granted = granted + 1
redis.call('HSET', key, 'tat', tat, 'ttat', ttat, 'paused', paused, 'granted', granted, 'epoch', epoch,
  'dec', dec)
if rate ~= nil then redis.call('HSET', key, 'rate', rate) end
if trate ~= nil then redis.call('HSET', key, 'trate', trate) end
redis.call('EXPIRE', key, 3600)
return {tostring(start - now), tostring(rate or -1), tostring(trate or -1), tostring(paused - now), dec}
"""


class RedisQuotaStore:
    """The Redis side of one :class:`~pynector.Quota`: one script call per acquire.

    Created by :func:`open_store`; the quota calls :meth:`acquire`, and queues its observations with
    :meth:`pause`, :meth:`set_rate`, :meth:`decrease` and :meth:`settle` (none of which blocks).
    """

    def __init__(self, client: Any, script: Any, name: str, url: str) -> None:
        self._client = client
        self._script = script
        self._name = name
        self._url = url
        self._pending: dict[Hashable, list[Any]] = {}

    def _hash_key(self, key: Hashable) -> str:
        if isinstance(key, tuple):
            return f"{self._name}:" + "/".join(str(part) for part in key)
        return f"{self._name}:{'default' if key is None else key}"

    def _queue(self, state: _KeyState, kind: str, a: float, b: float) -> None:
        self._pending.setdefault(state.key, []).extend((kind, repr(float(a)), repr(float(b))))

    def pause(self, state: _KeyState, wait: float) -> None:
        """Queue a pause of *wait* seconds for every process."""
        self._queue(state, "pause", wait, 0)

    def set_rate(self, state: _KeyState, rate: float, tokens: bool) -> None:
        """Queue a rate learned from headers (requests, or tokens per second)."""
        self._queue(state, "rate", rate, 1 if tokens else 0)

    def decrease(self, state: _KeyState, wait: float, decreases: int) -> None:
        """Queue a decrease after a 429/503 (ignored by the script if another one came first)."""
        self._queue(state, "decrease", wait, decreases)

    def settle(self, state: _KeyState, tokens: float) -> None:
        """Queue *tokens* given back to (negative: taken from) the token bucket."""
        self._queue(state, "settle", tokens, 0)

    async def acquire(self, quota: Quota, state: _KeyState, cost: float) -> None:
        """Reserve a start time in Redis (applying the queued observations) and sleep until then.

        Raises:
            pynector.QuotaStoreError: Redis failed or answered garbage.
            trio.Cancelled: when cancelled (the reservation is then simply lost: stricter, not looser).
        """
        events = self._pending.pop(state.key, ())
        args = [
            repr(float(cost)),
            repr(quota.configured_rate or 0.0),
            repr(quota.configured_token_rate or 0.0),
            repr(quota.headroom),
            *events,
        ]
        try:
            reply = await self._script(keys=[self._hash_key(state.key)], args=args)
            wait, rate, token_rate, paused, decreases = (float(value) for value in reply)
        except Exception as exc:
            raise QuotaStoreError(
                f"the quota store at {redact_url(self._url)} failed: {describe_exception(exc)}"
            ) from exc
        now = trio.current_time()
        state.rate = rate if rate > 0 else state.rate
        state.token_rate = token_rate if token_rate > 0 else state.token_rate
        if paused > 0 and now + paused > state.paused_until:
            state.paused_until = now + paused
        state.decreases = int(decreases)
        if wait > 0 and math.isfinite(wait):
            await trio.sleep(wait)


@asynccontextmanager
async def open_store(quota: Quota) -> AsyncIterator[RedisQuotaStore | None]:
    """Connect *quota* to Redis for the duration of the block (``quota.store`` is set inside it).

    Yields the store, or ``None`` when Redis could not be reached and ``on_redis_error="local"``.

    Raises:
        pynector.ConfigurationError: the ``redis`` extra (coredis) is not installed.
        pynector.QuotaStoreError: Redis cannot be reached and ``on_redis_error="fail"``.
    """
    url = quota.redis_url
    assert url is not None
    try:
        import coredis
    except ImportError as exc:
        raise ConfigurationError(
            "a Quota with redis_url needs the redis extra: pip install 'pynector-trio[redis]'"
        ) from exc
    store: RedisQuotaStore | None = None
    try:
        await _probe(url)
    except Exception as exc:
        message = f"the quota store at {redact_url(url)} cannot be reached: {describe_exception(exc)}"
        if quota.on_redis_error == "fail":
            raise QuotaStoreError(message) from exc
        warnings.warn(f"{message}; using this process's own quota state", RuntimeWarning, stacklevel=3)
        quota.fallback = True
        yield None
        return
    async with AsyncExitStack() as stack:
        try:
            client = coredis.Redis.from_url(url, decode_responses=True)
            await stack.enter_async_context(client)
            await client.ping()
        except Exception as exc:
            error = _unwrap(exc)
            raise QuotaStoreError(
                f"the quota store at {redact_url(url)} failed: {describe_exception(error)}"
            ) from error
        store = RedisQuotaStore(client, client.register_script(ACQUIRE_SCRIPT), quota.name, url)
        quota.store = store
        try:
            yield store
        finally:
            quota.store = None


async def _probe(url: str) -> None:
    """Open and close a TCP connection to the Redis server of *url* (``redis://``/``rediss://``).

    Done before coredis connects: coredis reports an unreachable server from inside its task group
    (an exception group when the client is left) and leaves a memory stream unclosed.

    Raises:
        OSError: the server cannot be reached.
        ValueError: the URL has no host.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return  # a unix socket: coredis reports it
    if not parts.hostname:
        raise ValueError("the redis URL has no host")
    stream = await trio.open_tcp_stream(parts.hostname, parts.port or 6379)
    await stream.aclose()


def _unwrap(exc: BaseException) -> BaseException:
    """The single exception inside (nested) exception groups, else *exc*."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
