"""The native engine keeps an exchange's total deadline itself (``NativeEngine.fetch(..., deadline)``).

No cancel scope surrounds the exchange: each wait it makes (for a pool slot, a connection, the
socket, a streamed request body) is bounded by the deadline, and the clock is read before each
further read of a body. These tests hold that design to the promise of one scope around the whole
exchange: every way an exchange can spend time ends at the deadline (and only when the deadline
passed), closing the engine ends every fetch in flight, and nothing is left behind. The transport
level (``pynector.TimeoutError`` naming the request, ``ClientClosedError`` on ``aclose``) is covered
for both engines by ``test_http_faults.py``.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing
import trustme
from helpers.native_server import BASELINE, OK, Peer, start, tasks_living
from helpers.tls import client_context, server_context

import pynector
from pynector.http._engine import DeadlineExpired, WireBody, WireRequest
from pynector.http._native import NativeEngine


async def fetch_by(engine: NativeEngine, request: WireRequest, deadline: float) -> WireBody:
    return await engine.fetch(request, None, "the request", deadline)


async def silent(peer: Peer) -> None:
    await peer.read_request()  # then say nothing until the client closes


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_a_silent_server_ends_at_the_deadline(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, ca: trustme.CA, tls: bool
) -> None:
    """Waiting for a response that never comes ends exactly at the deadline with DeadlineExpired
    (a pynector.TimeoutError whose cause is trio's TooSlowError), on plain TCP (a scope around the
    read only) and over TLS (one scope around the exchange); the connection is closed, and the next
    request on the engine works."""
    server = await start(nursery, silent, tls=server_context(ca, "127.0.0.1") if tls else None)
    async with NativeEngine(verify=client_context(ca) if tls else True) as engine:
        start_time = trio.current_time()
        with trio.fail_after(60), pytest.raises(DeadlineExpired) as info:  # (a regression fails, not hangs)
            await fetch_by(engine, server.request(), start_time + 3)
        assert 3 == pytest.approx(trio.current_time() - start_time)
        assert isinstance(info.value, pynector.TimeoutError)
        assert isinstance(info.value.__cause__, trio.TooSlowError)
        assert f"127.0.0.1:{server.port}" in str(info.value)
        assert BASELINE == engine.statistics()
        await server.wait_all_closed()
        assert b"hello" == (await fetch_by(engine, server.request(), math.inf)).body


async def test_a_deadline_that_does_not_pass_changes_nothing(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """A response that arrives before the deadline (after a wait) is returned, and its connection
    reused: the bounded wait leaves nothing behind."""

    async def late(peer: Peer) -> None:
        await peer.read_request()
        await trio.sleep(2)
        await peer.send(OK)
        while await peer.read_request() is not None:
            await peer.send(OK)

    server = await start(nursery, late)
    async with NativeEngine() as engine:
        for _ in range(2):
            assert b"hello" == (await fetch_by(engine, server.request(), trio.current_time() + 3)).body
        assert 1 == server.accepted


async def test_a_drip_cannot_stretch_the_deadline(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """A body dripping one byte a second (every wait short) still ends at the deadline."""

    async def drip(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            await peer.send(b"x")
            await trio.sleep(1)

    server = await start(nursery, drip)
    async with NativeEngine() as engine:
        start_time = trio.current_time()
        with trio.fail_after(60), pytest.raises(DeadlineExpired):  # (a regression fails, not hangs)
            await fetch_by(engine, server.request(), start_time + 5.5)
        assert 5.5 == pytest.approx(trio.current_time() - start_time)


async def test_a_body_that_never_waits_still_ends_at_the_deadline(nursery: trio.Nursery) -> None:
    """An endless chunked body sent faster than it is read (so the client never waits) and no size
    cap: the clock read before each further read ends it at the deadline.

    Real time: with trio's mock clock no time would pass while both sides keep busy.
    """

    async def endless(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
        while True:
            await peer.send(chunk)

    server = await start(nursery, endless)
    async with NativeEngine() as engine:
        started = time.monotonic()
        with trio.fail_after(10), pytest.raises(DeadlineExpired):  # (the guard: a failure, not a hang)
            await fetch_by(engine, server.request(), trio.current_time() + 0.3)
        assert time.monotonic() - started < 5
        assert BASELINE == engine.statistics()


async def test_waiting_for_a_pool_slot_ends_at_the_deadline(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """With the only connection busy, a second request's wait for it ends at its deadline and takes
    no slot; the first request is not disturbed."""

    async def slow(peer: Peer) -> None:
        await peer.read_request()
        await trio.sleep(10)
        await peer.send(OK)

    server = await start(nursery, slow)
    async with NativeEngine(max_connections=1) as engine:
        first: list[bytes] = []

        async def hold() -> None:
            first.append((await fetch_by(engine, server.request(), math.inf)).body)

        async with trio.open_nursery() as inner:
            inner.start_soon(hold)
            await trio.testing.wait_all_tasks_blocked()
            start_time = trio.current_time()
            with trio.fail_after(60), pytest.raises(DeadlineExpired):  # (a regression fails, not hangs)
                await fetch_by(engine, server.request(), start_time + 2)
            assert 2 == pytest.approx(trio.current_time() - start_time)
            assert 0 == engine.statistics().waiters
        assert [b"hello"] == first
        assert 1 == server.accepted


async def test_a_stalled_request_body_ends_at_the_deadline(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """An async iterable request body that stops yielding is bounded too (it is not the socket)."""

    async def stalls() -> AsyncIterator[bytes]:
        yield b"start"
        await trio.sleep_forever()

    server = await start(nursery, silent)
    async with NativeEngine() as engine:
        start_time = trio.current_time()
        with trio.fail_after(60), pytest.raises(DeadlineExpired):  # (a regression fails, not hangs)
            await fetch_by(engine, server.request("POST", body=stalls()), start_time + 4)
        assert 4 == pytest.approx(trio.current_time() - start_time)
        assert BASELINE == engine.statistics()


async def test_an_outer_cancel_scope_is_not_our_deadline(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """When the caller's own scope fires first, its cancellation goes through untouched (no
    DeadlineExpired): a deadline is reported only when it passed."""
    server = await start(nursery, silent)
    async with NativeEngine() as engine:
        with trio.move_on_after(1) as outer:
            await fetch_by(engine, server.request(), trio.current_time() + 5)
        assert outer.cancelled_caught
        assert BASELINE == engine.statistics()


@pytest.mark.parametrize("deadline", [5.0, math.inf], ids=["deadline", "none"])
async def test_aclose_ends_every_fetch_in_flight(nursery: trio.Nursery, deadline: float) -> None:
    """Closing the engine ends the fetches waiting for a response and those waiting for a pool slot
    with ClientClosedError at once, with or without a deadline; nothing is left open."""
    server = await start(nursery, silent, silent)
    engine = NativeEngine(max_connections=2)
    outcomes: list[type[BaseException]] = []
    baseline = tasks_living()

    async def call() -> None:
        try:
            await fetch_by(engine, server.request(), trio.current_time() + deadline)
        except pynector.PynectorError as exc:
            outcomes.append(type(exc))

    with trio.fail_after(5):  # (a guard: the test is over in milliseconds)
        async with trio.open_nursery() as inner:
            for _ in range(3):  # two wait for a response, one for a slot
                inner.start_soon(call)
            await trio.testing.wait_all_tasks_blocked()
            assert 1 == engine.statistics().waiters
            await engine.aclose()
        await server.wait_all_closed()
    assert [pynector.ClientClosedError] * 3 == outcomes
    with pytest.raises(pynector.ClientClosedError):
        await fetch_by(engine, server.request(), math.inf)
    assert baseline == tasks_living()
