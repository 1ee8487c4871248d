"""The core connection pool: limits, LIFO reuse, idle expiry, eviction, cancellation safety.

Connections here are fakes (an AsyncResource that records whether it was closed): the pool only
ever opens, parks, checks and closes them.
"""

from __future__ import annotations

import dataclasses

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import pynector
from pynector._pool import ConnectionPool, IdleProbe, PoolStatistics

BASELINE = PoolStatistics(open=0, idle=0, in_use=0, waiters=0)


class FakeConnection(trio.abc.AsyncResource):
    """A connection that only knows its key, its serial number and whether it is closed."""

    def __init__(self, key: str, serial: int) -> None:
        self.key = key
        self.serial = serial
        self.closed = False
        self.usable = True

    async def aclose(self) -> None:
        self.closed = True

    def __repr__(self) -> str:
        return f"<{self.key}#{self.serial}{' closed' if self.closed else ''}>"


class Opener:
    """The pool's ``connect``: records every connection, can be slowed down or made to fail."""

    def __init__(self, delay: float = 0.0, error: Exception | None = None) -> None:
        self.opened: list[FakeConnection] = []
        self.delay = delay
        self.error = error

    async def __call__(self, key: str) -> FakeConnection:
        await trio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        connection = FakeConnection(key, len(self.opened))
        self.opened.append(connection)
        return connection


def make_pool(opener: Opener, **options: object) -> ConnectionPool[str, FakeConnection]:
    """A pool of fakes; ``is_usable`` reads the fake's flag."""
    options.setdefault("max_connections", 4)
    return ConnectionPool(opener, is_usable=lambda c: c.usable, **options)  # type: ignore[arg-type]


async def use(pool: ConnectionPool[str, FakeConnection], key: str, reusable: bool = True) -> FakeConnection:
    """Check out a connection for *key* and give it back (parked if *reusable*)."""
    async with pool.connection(key) as lease:
        lease.reusable = reusable
        return lease.connection


async def test_clean_exchange_parks_and_reuses() -> None:
    """A lease marked reusable is parked and served to the next caller, flagged as reused."""
    opener = Opener()
    pool = make_pool(opener)
    first = await use(pool, "a")
    assert PoolStatistics(open=1, idle=1, in_use=0, waiters=0) == pool.statistics()
    async with pool.connection("a") as lease:
        assert (first, True) == (lease.connection, lease.reused)
        assert PoolStatistics(open=1, idle=0, in_use=1, waiters=0) == pool.statistics()
    assert 1 == len(opener.opened)


async def test_unmarked_or_failed_exchange_closes_the_connection() -> None:
    """Without ``reusable``, or when the block raises, the connection is closed, not parked."""
    pool = make_pool(Opener())
    unmarked = await use(pool, "a", reusable=False)
    assert unmarked.closed
    seen: list[FakeConnection] = []

    async def failing_exchange() -> None:
        async with pool.connection("a") as lease:
            seen.append(lease.connection)
            lease.reusable = True
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await failing_exchange()
    assert seen[0].closed
    assert BASELINE == pool.statistics()


async def test_lifo_reuse() -> None:
    """The most recently parked (warmest) connection is reused first."""
    pool = make_pool(Opener())
    older = await pool.acquire("a")
    newer = await pool.acquire("a")
    for lease in (older, newer):
        lease.reusable = True
        await pool.release(lease)
    assert newer.connection is await use(pool, "a")


async def test_global_limit_blocks_until_release(autojump_clock: trio.testing.MockClock) -> None:
    """At max_connections, a caller waits (counted in statistics) until a lease is released."""
    pool = make_pool(Opener(), max_connections=2)
    held = [await pool.acquire("a"), await pool.acquire("b")]
    got: list[FakeConnection] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: _append(got, use(pool, "c")))
        await trio.testing.wait_all_tasks_blocked()
        assert PoolStatistics(open=2, idle=0, in_use=2, waiters=1) == pool.statistics()
        assert [] == got
        await pool.release(held[0])  # not reusable: closed, which frees a slot
    assert ["c"] == [c.key for c in got]
    await pool.release(held[1])
    assert 1 == pool.statistics().idle


async def _append(out: list[FakeConnection], awaitable: object) -> None:
    out.append(await awaitable)  # type: ignore[misc]


async def test_per_key_limit_leaves_other_keys_free() -> None:
    """A key at max_per_key makes only that key wait."""
    pool = make_pool(Opener(), max_connections=4, max_per_key=1)
    held = await pool.acquire("a")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(use, pool, "a")
        await trio.testing.wait_all_tasks_blocked()
        assert 1 == pool.statistics().waiters
        assert "b" == (await use(pool, "b")).key  # not blocked by "a"
        held.reusable = True
        await pool.release(held)
    assert 0 == pool.statistics().waiters


async def test_idle_expiry_on_the_trio_clock(autojump_clock: trio.testing.MockClock) -> None:
    """A connection idle longer than idle_timeout is closed at the next checkout, not reused."""
    opener = Opener()
    pool = make_pool(opener, idle_timeout=10)
    first = await use(pool, "a")
    await trio.sleep(9.5)
    assert first is await use(pool, "a")  # idle 9.5 s: still fresh
    await trio.sleep(10.5)
    second = await use(pool, "a")
    assert first.closed
    assert second is not first
    assert PoolStatistics(open=1, idle=1, in_use=0, waiters=0) == pool.statistics()


async def test_expired_connections_are_pruned_oldest_first(autojump_clock: trio.testing.MockClock) -> None:
    """A checkout closes every expired idle connection of its key, not just the one it looks at."""
    pool = make_pool(Opener(), idle_timeout=10)
    leases = [await pool.acquire("a") for _ in range(3)]
    for lease in leases[:2]:
        lease.reusable = True
        await pool.release(lease)
    await trio.sleep(11)
    leases[2].reusable = True
    await pool.release(leases[2])  # parked now: not expired
    assert leases[2].connection is await use(pool, "a")
    assert [True, True, False] == [lease.connection.closed for lease in leases]
    assert 1 == pool.statistics().idle


async def test_unusable_idle_connection_is_discarded() -> None:
    """An idle connection that fails ``is_usable`` (closed by the peer) is closed and replaced."""
    pool = make_pool(Opener())
    first = await use(pool, "a")
    first.usable = False
    async with pool.connection("a") as lease:
        assert (False, True) == (lease.reused, first.closed)


async def test_eviction_makes_room_for_a_new_key() -> None:
    """At max_connections with only idle ones, the oldest idle connection is closed for a new key."""
    pool = make_pool(Opener(), max_connections=2)
    oldest = await use(pool, "a")
    newest = await use(pool, "b")
    await use(pool, "c")
    assert (True, False) == (oldest.closed, newest.closed)
    assert PoolStatistics(open=2, idle=2, in_use=0, waiters=0) == pool.statistics()


async def test_idle_caps_per_key_and_total() -> None:
    """Beyond max_idle_per_key or max_idle, a released connection is closed instead of parked."""
    pool = make_pool(Opener(), max_connections=6, max_idle_per_key=1, max_idle=2)
    leases = [await pool.acquire(key) for key in ("a", "a", "b", "c")]
    for lease in leases:
        lease.reusable = True
        await pool.release(lease)
    assert [False, True, False, True] == [lease.connection.closed for lease in leases]
    assert 2 == pool.statistics().idle


async def test_fresh_skips_idle_connections() -> None:
    """``fresh=True`` opens a new connection even when an idle one exists."""
    pool = make_pool(Opener())
    idle = await use(pool, "a")
    async with pool.connection("a", fresh=True) as lease:
        assert (False, False) == (lease.connection is idle, lease.reused)


async def test_cancelled_waiters_never_take_a_slot(autojump_clock: trio.testing.MockClock) -> None:
    """Waiters cancelled while queued leave no trace: the next caller gets the slot at once."""
    pool = make_pool(Opener(), max_connections=1)
    held = await pool.acquire("a")
    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(use, pool, "a")
        await trio.testing.wait_all_tasks_blocked()
        assert 10 == pool.statistics().waiters
        nursery.cancel_scope.cancel()
    assert PoolStatistics(open=1, idle=0, in_use=1, waiters=0) == pool.statistics()
    held.reusable = True
    await pool.release(held)
    with trio.fail_after(1):
        assert held.connection is await use(pool, "a")


@settings(max_examples=60, deadline=None)
@given(
    limits=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    callers=st.lists(
        st.tuples(st.sampled_from("ab"), st.integers(0, 30), st.integers(0, 30), st.booleans()),
        min_size=1,
        max_size=40,
    ),
)
def test_limits_hold_under_random_cancellation(
    limits: tuple[int, int], callers: list[tuple[str, int, int, bool]]
) -> None:
    """Callers arrive, hold a connection and leave; some are cancelled at a random moment (queued,
    connecting or holding). At no moment do the leases pass either limit, nobody waits while a
    slot is free, and afterwards every slot is back: each of the limit's worth of new callers gets
    a connection at once."""
    total, per_key = limits
    opener = Opener(delay=1)
    pool = make_pool(opener, max_connections=total, max_per_key=per_key)
    holding: dict[str, int] = {"a": 0, "b": 0}

    async def caller(key: str, hold: int, cancel_at: int, cancelled: bool) -> None:
        with trio.move_on_after(cancel_at if cancelled else 1000):
            async with pool.connection(key) as lease:
                holding[key] += 1
                try:
                    assert holding[key] <= min(per_key, total)
                    assert sum(holding.values()) <= total
                    await trio.sleep(hold)
                    lease.reusable = True
                finally:
                    holding[key] -= 1

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for key, hold, cancel_at, cancelled in callers:
                nursery.start_soon(caller, key, hold, cancel_at, cancelled)
                await trio.sleep(1)
        assert 0 == pool.statistics().in_use == pool.statistics().waiters
        with trio.fail_after(1.5):  # each caller needs at most one connect (1 s), and nobody waits
            async with trio.open_nursery() as nursery:
                for _ in range(min(per_key, total)):
                    nursery.start_soon(caller, "a", 0, 0, False)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_cancelled_connect_gives_the_slot_back(autojump_clock: trio.testing.MockClock) -> None:
    """Cancelled in the middle of connecting, the lease's slot is released."""
    pool = make_pool(Opener(delay=5), max_connections=1)
    with trio.move_on_after(1):
        await use(pool, "a")
    assert BASELINE == pool.statistics()
    assert "a" == (await use(pool, "a")).key


async def test_connect_error_gives_the_slot_back() -> None:
    """A failing connect propagates its error and frees the slot."""
    opener = Opener(error=pynector.ConnectError("refused"))
    pool = make_pool(opener, max_connections=1)
    for _ in range(3):
        with pytest.raises(pynector.ConnectError):
            await use(pool, "a")
    assert BASELINE == pool.statistics()


async def test_release_is_idempotent() -> None:
    """Releasing a lease twice does not free a second slot."""
    pool = make_pool(Opener(), max_connections=1)
    lease = await pool.acquire("a")
    await pool.release(lease)
    await pool.release(lease)
    assert BASELINE == pool.statistics()


async def test_aclose(autojump_clock: trio.testing.MockClock) -> None:
    """aclose() closes idle connections, ends the tasks waiting for a slot at once, closes in-use
    connections on release, and refuses new leases."""
    pool = make_pool(Opener(), max_connections=1)
    idle = await use(pool, "b")
    busy = await pool.acquire("a")
    async with trio.open_nursery() as nursery:

        async def waiter() -> None:
            with pytest.raises(pynector.ClientClosedError, match="pool was closed"):
                await use(pool, "a")

        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        await pool.aclose()
        assert idle.closed
        busy.reusable = True
        await pool.release(busy)
    assert busy.connection.closed
    with pytest.raises(pynector.ClientClosedError):
        await use(pool, "a")
    await pool.aclose()  # idempotent
    assert BASELINE == pool.statistics()


def test_statistics_is_a_frozen_snapshot() -> None:
    """statistics() returns a frozen value."""
    stats = make_pool(Opener()).statistics()
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.open = 3  # type: ignore[misc]


async def test_idle_probe_sees_waiting_bytes_and_a_closed_peer() -> None:
    """The idle probe says quiet only while nothing waits: bytes or the peer's close make it say not."""
    near, far = trio.socket.socketpair()
    stream = trio.SocketStream(near)
    probe = IdleProbe(stream)
    assert probe.quiet()
    await far.send(b"pushed\n")
    assert not probe.quiet()
    assert b"pushed\n" == await stream.receive_some(100)
    assert probe.quiet()
    far.close()
    assert not probe.quiet()
    await stream.aclose()
    assert not probe.quiet()  # a closed socket is never reused


async def test_idle_probe_of_a_stream_without_a_socket_is_quiet() -> None:
    """An in-memory stream has no socket to probe: it is taken as quiet."""
    near, _far = trio.testing.memory_stream_pair()
    assert IdleProbe(near).quiet()
