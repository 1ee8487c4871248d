"""A cancellation-safe connection pool, shared by every stream-based transport.

The rule that makes it safe by construction: **a connection goes back to the pool only when the
exchange that used it says, at its very end, that it is clean** (``lease.reusable = True``). Any other
way out of the ``async with pool.connection(key)`` block (cancellation, timeout, an error, a forgotten
flag) closes the connection. A half-read response can therefore never be handed to the next request.

Limits are two sets of slots (one for the whole pool, one per key, for example per HTTP origin), each a
count plus a trio ``ParkingLot`` of waiters (:class:`_Slots`, which explains why a cancelled waiter never
takes a slot, as with trio's ``CapacityLimiter``), so cancellation while queued cannot leak a slot;
httpcore's pool does leak there (encode/httpcore#1093), which is why we own this code instead of
reusing theirs.

Idle connections are reused last-in first-out (the warmest one), dropped after ``idle_timeout``
seconds on trio's clock, capped at ``max_idle_per_key``, and checked with ``is_usable`` before reuse
(for sockets: :class:`IdleProbe`, not readable, since an idle keep-alive connection that became
readable was closed by the peer or sent bytes nobody asked for). Expired idle connections of a key
are closed whenever that key is used (there is no background sweeper task: a pool must not own tasks
that outlive its users).

Two ways to hold a connection: ``async with pool.connection(key) as lease`` (the simple form) and the
pair ``lease = await pool.acquire(key)`` / ``await pool.release(lease)`` for hot paths that keep the
lease in an object of their own (an HTTP exchange spans ``send`` and the body iteration). The pair is
just as safe provided ``release`` runs in a ``finally`` (or ``__aexit__``): ``acquire`` has no checkpoint
between taking the slot and returning the lease, so a cancellation cannot fall between the two.
"""

from __future__ import annotations

import contextlib
import math
import select
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, TypeVarTuple

import trio

from ._errors import ClientClosedError

__all__ = ["ConnectionPool", "DeadlineWaits", "IdleProbe", "Lease", "PoolStatistics"]

K = TypeVar("K", bound=Hashable)
C = TypeVar("C", bound=trio.abc.AsyncResource)
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


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


class _Slots:
    """A pool limit: *total* slots and a first-come first-served line of tasks waiting for one.

    What trio's ``CapacityLimiter`` does for us, minus the per-borrower bookkeeping we do not need (a
    lease is its own borrower): no borrower set, no token object, no waiter scan on release. It runs
    twice per request on the hot path. The guarantee is
    the limiter's, by the same mechanism: a waiter parks in a ``ParkingLot``; :meth:`give` hands a
    freed slot straight to the first waiter by unparking it, and trio delivers no cancellation to a
    task it has rescheduled, so the slot is the waiter's as soon as it is handed over; a waiter
    cancelled while still parked leaves the line and holds nothing. Invariant: ``free > 0`` only when
    nobody waits.
    """

    __slots__ = ("_line", "free", "total")

    def __init__(self, total: int) -> None:
        self.total = total
        self.free = total
        self._line = trio.lowlevel.ParkingLot()

    async def take(self) -> None:
        """Take a slot (the caller has checked that none is free): wait for :meth:`give`.

        Raises:
            trio.Cancelled: while waiting; no slot is taken then.
        """
        await self._line.park()

    def give(self) -> None:
        """Give a slot back: to the first waiter if there is one, else to the free count."""
        if self._line:
            self._line.unpark()
        else:
            self.free += 1

    @property
    def waiting(self) -> int:
        return len(self._line)


class Lease(Generic[C]):
    """One checked-out connection.

    Attributes:
        connection: the connection (a trio stream).
        key: the key it was checked out for.
        reused: whether it served an earlier exchange (a failure before any response byte on a reused
            connection is the classic "server closed the idle connection" race, safe to retry once).
        reusable: set to ``True`` at the end of a clean exchange to return the connection to the pool.
    """

    __slots__ = ("_key_slots", "_released", "connection", "key", "reusable", "reused")

    def __init__(
        self, connection: C, reused: bool, key: Hashable = None, key_slots: _Slots | None = None
    ) -> None:
        self.connection = connection
        self.key = key
        self.reused = reused
        self.reusable = False
        self._key_slots = key_slots
        self._released = False


class IdleProbe:
    """Tells whether an idle connection is quiet: its socket has nothing to read.

    An idle keep-alive connection that became readable was closed by the peer, or the peer sent bytes
    nobody asked for (a late or multi-part reply, a pushed line, a smuggled response). Either way it
    must not serve the next request: whatever waits there would be read as that request's reply.
    Every pool of sockets runs this one check before reuse.

    The socket is found under any TLS layers of the stream; a stream without a socket (in-memory) is
    always quiet. trio's ``socket.is_readable()`` builds and registers a poll object on every call;
    one registered object per connection leaves only the poll system call per check.

    Args:
        stream: the connection's trio stream.
    """

    __slots__ = ("_poll", "_socket")

    def __init__(self, stream: trio.abc.Stream) -> None:
        inner: object = stream
        while isinstance(inner, trio.SSLStream):
            inner = inner.transport_stream
        self._socket: trio.socket.SocketType | None = getattr(inner, "socket", None)
        self._poll: Any = None
        if self._socket is not None and hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(self._socket.fileno(), select.POLLIN)

    def quiet(self) -> bool:
        """Whether there is nothing to read (``False`` also when the socket is closed or broken).

        Never blocks (one non-blocking poll).
        """
        try:
            if self._poll is not None:
                return not self._poll.poll(0)
            return self._socket is None or not self._socket.is_readable()
        except (OSError, ValueError):  # closed socket: fileno() -1, or poll on a closed descriptor
            return False


class DeadlineWaits:
    """The waits of the exchanges in flight, each bounded by its exchange's deadline, all ended at once
    by :meth:`close`.

    A total deadline is usually one cancel scope around the whole exchange. trio's scopes are not
    free (entering, leaving and registering a deadline cost several microseconds, a sixth of a small
    HTTP request's CPU time), and an exchange at full load rarely waits at all: its connection is
    there, its response arrived while other tasks ran. So an exchange that keeps its own deadline
    enters a scope only around the waits it actually makes (for a slot, a connection, the socket),
    through :meth:`wait`, and checks the clock between them where it could otherwise run on without
    waiting (a body arriving faster than it is read). A deadline passed raises ``trio.TooSlowError``
    from the wait, which the owner turns into its own error.

    Args:
        closed_message: the :class:`~pynector.ClientClosedError` message for waits ended by
            :meth:`close`, and for waits begun after it.
    """

    __slots__ = ("_closed_message", "_scopes", "closed")

    def __init__(self, closed_message: str) -> None:
        self._closed_message = closed_message
        self._scopes: set[trio.CancelScope] = set()
        self.closed = False

    async def wait(self, deadline: float, function: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> T:
        """``await function(*args)``, cancelled at *deadline* (absolute, trio's clock) or by :meth:`close`.

        Blocks as *function* does, at most until *deadline*.

        Raises:
            trio.TooSlowError: the deadline passed first.
            pynector.ClientClosedError: :meth:`close` was called, before or during the wait.
            Exception: whatever *function* raises.
        """
        if self.closed:
            raise ClientClosedError(self._closed_message)
        scopes = self._scopes
        with trio.CancelScope(deadline=deadline) as scope:
            scopes.add(scope)
            try:
                return await function(*args)
            finally:
                scopes.discard(scope)
        if self.closed:
            raise ClientClosedError(self._closed_message)
        raise trio.TooSlowError

    def close(self) -> None:
        """End every wait in flight with :class:`~pynector.ClientClosedError`, and every later one."""
        self.closed = True
        for scope in self._scopes:
            scope.cancel()


async def close_quietly(resource: trio.abc.AsyncResource) -> None:
    """Close *resource* at once, shielded, ignoring errors (it is being discarded)."""
    # A resource being thrown away may fail to close; that must not mask the real outcome.
    with trio.CancelScope(shield=True), contextlib.suppress(Exception):
        await trio.aclose_forcefully(resource)


class ConnectionPool(Generic[K, C]):
    """Connections by key, with global and per-key limits.

    Args:
        connect: opens a new connection for a key.
        max_connections: the most connections open at once across all keys.
        max_per_key: the most connections for one key (default: ``max_connections``).
        max_idle_per_key: the most idle connections kept per key (default: ``max_per_key``).
        max_idle: the most idle connections kept across all keys (default: no extra bound).
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
        max_idle: int | None = None,
        idle_timeout: float | None = None,
        is_usable: Callable[[C], bool] | None = None,
    ) -> None:
        self._connect = connect
        self._slots = _Slots(max_connections)
        self._max_per_key = max_per_key or max_connections
        # A per-key limit no smaller than the global one can never bind: skip its slots (two
        # operations per exchange fewer, the common case for single-origin clients).
        self._per_key_limited = self._max_per_key < max_connections
        self._key_slots: dict[K, _Slots] = {}
        self._max_idle_per_key = self._max_per_key if max_idle_per_key is None else max_idle_per_key
        self._max_idle = max_connections if max_idle is None else max_idle
        self._idle_timeout = idle_timeout
        self._is_usable = is_usable
        self._idle: defaultdict[K, deque[tuple[C, float]]] = defaultdict(deque)
        self._idle_count = 0
        #: Leases held now (read by hot paths that act differently when theirs is the only one).
        self.in_use = 0
        self._closed = False
        #: Every bounded wait of the pool's users (slots, connecting, their own I/O), ended by :meth:`aclose`.
        self.waits = DeadlineWaits("the connection pool was closed during the request")

    def statistics(self) -> PoolStatistics:
        """A frozen snapshot of the pool's counters (``open`` counts leases still connecting)."""
        waiters = self._slots.waiting + sum(slots.waiting for slots in self._key_slots.values())
        return PoolStatistics(
            open=self._idle_count + self.in_use,
            idle=self._idle_count,
            in_use=self.in_use,
            waiters=waiters,
        )

    def _pop_idle(self, key: K) -> tuple[C | None, list[C]]:
        """The warmest usable idle connection of *key* (or ``None``), and the idle connections to
        close: expired ones (all of the key's, oldest first) and unusable ones tried on the way.

        Synchronous, so that the common case (a usable idle connection, nothing to close) costs no
        coroutine; the caller closes what it is given.
        """
        idle = self._idle.get(key)
        if not idle:
            return None, []
        doomed: list[C] = []
        timeout = self._idle_timeout
        if timeout is not None:
            now = trio.current_time()
            # Oldest first (left end): everything of this key that has expired goes.
            while idle and now - idle[0][1] > timeout:
                doomed.append(idle.popleft()[0])
                self._idle_count -= 1
        is_usable = self._is_usable
        while idle:
            connection = idle.pop()[0]
            self._idle_count -= 1
            if is_usable is None or is_usable(connection):
                return connection, doomed
            doomed.append(connection)
        return None, doomed

    async def acquire(self, key: K, *, fresh: bool = False, deadline: float = math.inf) -> Lease[C]:
        """Check out a connection for *key*: the warmest usable idle one, else a new one.

        Blocks while the pool or the key is at its limit, and while connecting, at most until
        *deadline*; a task cancelled while waiting takes no slot. Always a cancellation point; when a
        slot and an idle connection are there it returns without yielding to the scheduler (the
        exchange's own I/O does that) and without a cancel scope (only the waits are bounded: see
        :class:`DeadlineWaits`). The caller must hand the lease to :meth:`release` exactly once, in a
        ``finally`` block.

        Args:
            key: the pool key (for HTTP, the origin).
            fresh: open a new connection even if an idle one exists (used to retry after a stale one).
            deadline: when waiting for a slot or a new connection must end (trio's clock).

        Raises:
            trio.TooSlowError: *deadline* passed while waiting for a slot or a connection.
            pynector.ClientClosedError: the pool is closed, or was closed while waiting.
            Exception: whatever ``connect`` raises (the slot is given back first).
        """
        if self._closed:
            raise ClientClosedError("connection pool is closed")
        key_slots = None
        if self._per_key_limited:
            key_slots = self._key_slots.get(key)
            if key_slots is None:
                key_slots = self._key_slots[key] = _Slots(self._max_per_key)
        # Fast path: a cancellation point, then both slots without blocking. Only a caller that must
        # wait parks (a full checkpoint); a waiter cancelled there takes no slot (see _Slots).
        await trio.lowlevel.checkpoint_if_cancelled()
        waits = self.waits
        if key_slots is not None:
            if key_slots.free:
                key_slots.free -= 1
            else:
                await waits.wait(deadline, key_slots.take)
        slots = self._slots
        try:
            if slots.free:
                slots.free -= 1
            else:
                await waits.wait(deadline, slots.take)
        except BaseException:
            if key_slots is not None:
                key_slots.give()
            raise
        self.in_use += 1
        try:
            if self._closed:
                raise ClientClosedError("connection pool was closed while waiting for a connection")
            connection: C | None = None
            if not fresh:
                connection, doomed = self._pop_idle(key)
                try:
                    for stale in doomed:
                        await close_quietly(stale)
                except BaseException:  # (closing is shielded: only KeyboardInterrupt gets here)
                    if connection is not None:
                        await close_quietly(connection)
                    raise
            reused = connection is not None
            if connection is None:
                await self._evict_for_new_connection()
                connection = await waits.wait(deadline, self._connect, key)
        except BaseException:
            self.in_use -= 1
            slots.give()
            if key_slots is not None:
                key_slots.give()
            raise
        return Lease(connection, reused, key, key_slots)

    async def release(self, lease: Lease[C]) -> None:
        """Give a lease back: park its connection if ``lease.reusable``, otherwise close it.

        Never blocks for long (closing is forceful and shielded) and never raises; a second call for
        the same lease does nothing.
        """
        if lease._released or self.try_park(lease):
            return
        lease._released = True
        try:
            await close_quietly(lease.connection)
        finally:
            self._return_slot(lease)

    def try_park(self, lease: Lease[C]) -> bool:
        """Give back a ``reusable`` lease by parking its connection, without I/O (no coroutine on the
        hot path). Returns ``False``, having done nothing, when the lease must go through
        :meth:`release` instead: not reusable, the pool closed, no room for one more idle connection.
        """
        if lease._released or not lease.reusable or self._closed:
            return False
        if not self._park(lease.key, lease.connection):  # type: ignore[arg-type]
            return False
        lease._released = True
        self._return_slot(lease)
        return True

    def _return_slot(self, lease: Lease[C]) -> None:
        self.in_use -= 1
        self._slots.give()
        if lease._key_slots is not None:
            lease._key_slots.give()

    @asynccontextmanager
    async def connection(self, key: K, *, fresh: bool = False) -> AsyncIterator[Lease[C]]:
        """Check out a connection for *key* for the duration of the block (see :meth:`acquire`).

        On a clean exit with ``lease.reusable`` set, the connection is parked for reuse; on any other
        exit (an exception, cancellation) it is closed.

        Raises:
            pynector.ClientClosedError: the pool is closed.
            Exception: whatever ``connect`` raises.
        """
        lease = await self.acquire(key, fresh=fresh)
        try:
            yield lease
        except BaseException:
            lease.reusable = False
            raise
        finally:
            await self.release(lease)

    def _park(self, key: K, connection: C) -> bool:
        if self._idle_count >= self._max_idle:
            return False
        idle = self._idle[key]
        if len(idle) >= self._max_idle_per_key:
            return False
        idle.append((connection, trio.current_time()))
        self._idle_count += 1
        return True

    async def _evict_for_new_connection(self) -> None:
        """Close the oldest idle connection when opening one more would pass ``max_connections``."""
        if self._idle_count + self.in_use <= self._slots.total:
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
        """Close every idle connection and refuse new leases; end every wait made through
        :attr:`waits` (waiting for a slot or a connection, or a user's bounded I/O) with
        :class:`~pynector.ClientClosedError`. Leases in use close on release.

        Idempotent; safe to call from a cancelled scope (closing is shielded).
        """
        self._closed = True
        self.waits.close()
        idle, self._idle = self._idle, defaultdict(deque)
        self._idle_count = 0
        for connections in idle.values():
            for connection, _ in connections:
                await close_quietly(connection)
