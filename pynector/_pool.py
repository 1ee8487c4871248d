"""A cancellation-safe connection pool, shared by every stream-based transport.

The rule that makes it safe by construction: **a connection goes back to the pool only when the
exchange that used it says, at its very end, that it is clean** (``lease.reusable = True``). Any other
way out of the ``async with pool.connection(key)`` block (cancellation, timeout, an error, a forgotten
flag) closes the connection. A half-read response can therefore never be handed to the next request.

Limits are two :class:`trio.CapacityLimiter` (one for the whole pool, one per key, for example per HTTP
origin). trio's limiter guarantees that a cancelled waiter never takes a token, so cancellation while
queued cannot leak a slot; httpcore's pool does leak there (encode/httpcore#1093), which is why we own
this code instead of reusing theirs.

Idle connections are reused last-in first-out (the warmest one), dropped after ``idle_timeout``
seconds on trio's clock, capped at ``max_idle_per_key``, and checked with ``is_usable`` before reuse
(for sockets: not readable, since an idle keep-alive connection that became readable was closed by the
peer or sent garbage).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

import trio

from ._errors import ClientClosedError

__all__ = ["ConnectionPool", "Lease", "PoolStatistics", "stream_is_usable"]

K = TypeVar("K", bound=Hashable)
C = TypeVar("C", bound=trio.abc.AsyncResource)


@dataclass(frozen=True, slots=True)
class PoolStatistics:
    """A snapshot of a pool.

    Attributes:
        open: connections open (idle plus in use).
        idle: connections parked for reuse.
        in_use: leases currently held.
        waiters: tasks waiting for a slot.
    """

    open: int
    idle: int
    in_use: int
    waiters: int


class Lease(Generic[C]):
    """One checked-out connection.

    Attributes:
        connection: the connection (a trio stream).
        reused: whether it served an earlier exchange (a failure before any response byte on a reused
            connection is the classic "server closed the idle connection" race, safe to retry once).
        reusable: set to ``True`` at the end of a clean exchange to return the connection to the pool.
    """

    __slots__ = ("connection", "reusable", "reused")

    def __init__(self, connection: C, reused: bool) -> None:
        self.connection = connection
        self.reused = reused
        self.reusable = False


def stream_is_usable(stream: trio.abc.Stream) -> bool:
    """Whether an idle stream looks alive: its socket, if it has one, has nothing to read."""
    inner: object = stream
    while isinstance(inner, trio.SSLStream):
        inner = inner.transport_stream
    sock = getattr(inner, "socket", None)
    if sock is None:
        return True
    try:
        return not sock.is_readable()
    except OSError:
        return False


async def close_quietly(resource: trio.abc.AsyncResource) -> None:
    """Close *resource* at once, shielded, ignoring errors (it is being discarded)."""
    # A resource being thrown away may fail to close; that must not mask the real outcome.
    with trio.CancelScope(shield=True), contextlib.suppress(Exception):
        await trio.aclose_forcefully(resource)


async def _acquire(limiter: trio.CapacityLimiter, token: object) -> None:
    """Take a slot of *limiter*: a cancellation point, but no scheduler round trip when one is free.

    ``CapacityLimiter.acquire_on_behalf_of`` always yields to the scheduler, and a pool takes two
    slots per exchange; the exchange's own I/O yields right after, so the fast path skips that yield
    (about 10-15% of a loopback round trip). ``acquire_on_behalf_of_nowait`` stays fair: it refuses
    while others are queued, and then the task queues like everyone else.
    """
    await trio.lowlevel.checkpoint_if_cancelled()
    try:
        limiter.acquire_on_behalf_of_nowait(token)
    except trio.WouldBlock:
        await limiter.acquire_on_behalf_of(token)


class ConnectionPool(Generic[K, C]):
    """Connections by key, with global and per-key limits.

    Args:
        connect: opens a new connection for a key.
        max_connections: the most connections open at once across all keys.
        max_per_key: the most connections for one key (default: ``max_connections``).
        max_idle_per_key: the most idle connections kept per key (default: ``max_per_key``).
        idle_timeout: seconds an idle connection may be kept, or ``None``.
        is_usable: check run on an idle connection before reuse.
    """

    def __init__(
        self,
        connect: Callable[[K], Awaitable[C]],
        *,
        max_connections: int,
        max_per_key: int | None = None,
        max_idle_per_key: int | None = None,
        idle_timeout: float | None = None,
        is_usable: Callable[[C], bool] | None = None,
    ) -> None:
        self._connect = connect
        self._limiter = trio.CapacityLimiter(max_connections)
        self._max_per_key = max_per_key or max_connections
        self._key_limiters: dict[K, trio.CapacityLimiter] = {}
        self._max_idle = self._max_per_key if max_idle_per_key is None else max_idle_per_key
        self._idle_timeout = idle_timeout
        self._is_usable = is_usable
        self._idle: defaultdict[K, deque[tuple[C, float]]] = defaultdict(deque)
        self._idle_count = 0
        self._in_use = 0
        self._closed = False

    def statistics(self) -> PoolStatistics:
        """A frozen snapshot of the pool's counters."""
        waiters = self._limiter.statistics().tasks_waiting + sum(
            lim.statistics().tasks_waiting for lim in self._key_limiters.values()
        )
        return PoolStatistics(
            open=self._idle_count + self._in_use,
            idle=self._idle_count,
            in_use=self._in_use,
            waiters=waiters,
        )

    async def _take_idle(self, key: K) -> C | None:
        idle = self._idle.get(key)
        now = trio.current_time()
        while idle:
            connection, parked_at = idle.pop()
            self._idle_count -= 1
            expired = self._idle_timeout is not None and now - parked_at > self._idle_timeout
            if not expired and (self._is_usable is None or self._is_usable(connection)):
                return connection
            await close_quietly(connection)
        return None

    @asynccontextmanager
    async def connection(self, key: K) -> AsyncIterator[Lease[C]]:
        """Check out a connection for *key*, opening one if none is idle.

        Blocks while the pool or the key is at its limit (wrap it in a deadline to bound the wait).
        On a clean exit with ``lease.reusable`` set, the connection is parked for reuse; on any other
        exit it is closed.

        Raises:
            pynector.ClientClosedError: the pool is closed.
            Exception: whatever ``connect`` raises.
        """
        if self._closed:
            raise ClientClosedError("connection pool is closed")
        # With no per-key bound below the global one, the global limiter alone is enough.
        key_limiter = None if self._max_per_key >= self._limiter.total_tokens else self._key_limiters.get(key)
        if key_limiter is None and self._max_per_key < self._limiter.total_tokens:
            key_limiter = self._key_limiters[key] = trio.CapacityLimiter(self._max_per_key)
        token = object()
        if key_limiter is not None:
            await _acquire(key_limiter, token)
        try:
            await _acquire(self._limiter, token)
        except BaseException:
            if key_limiter is not None:
                key_limiter.release_on_behalf_of(token)
            raise
        self._in_use += 1
        try:
            connection = await self._take_idle(key)
            reused = connection is not None
            if connection is None:
                await self._evict_for_new_connection()
                connection = await self._connect(key)
            lease = Lease(connection, reused)
            try:
                yield lease
            except BaseException:
                await close_quietly(connection)
                raise
            if lease.reusable and not self._closed and self._park(key, connection):
                return
            await close_quietly(connection)
        finally:
            self._in_use -= 1
            self._limiter.release_on_behalf_of(token)
            if key_limiter is not None:
                key_limiter.release_on_behalf_of(token)

    def _park(self, key: K, connection: C) -> bool:
        idle = self._idle[key]
        if len(idle) >= self._max_idle:
            return False
        idle.append((connection, trio.current_time()))
        self._idle_count += 1
        return True

    async def _evict_for_new_connection(self) -> None:
        """Close the oldest idle connection when opening one more would pass ``max_connections``."""
        if self._idle_count + self._in_use <= self._limiter.total_tokens:
            return
        oldest_key: K | None = None
        oldest_at = float("inf")
        for key, idle in self._idle.items():
            if idle and idle[0][1] < oldest_at:
                oldest_key, oldest_at = key, idle[0][1]
        if oldest_key is not None:
            connection, _ = self._idle[oldest_key].popleft()
            self._idle_count -= 1
            await close_quietly(connection)

    async def aclose(self) -> None:
        """Close every idle connection and refuse new leases. Leases in use close on release."""
        self._closed = True
        idle, self._idle = self._idle, defaultdict(deque)
        self._idle_count = 0
        for connections in idle.values():
            for connection, _ in connections:
                await close_quietly(connection)
