"""Large bodies through the native engine: read into reusable buffers, streamed in large pieces,
sent without copies. Real loopback servers (from ``test_native_engine``), byte by byte.

What a user relies on: a large body arrives whole however the server splits it; each ``fetch``
returns its own bytes although the engine reuses its read buffers; a body cut short, a body over
the cap, a cancelled read, all end with the right error and a closed connection; a large request
body (bytes, bytearray, memoryview, iterables, chunked) reaches the server byte for byte.
"""

from __future__ import annotations

import array
import socket
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing
import trustme
from helpers.native_server import (
    Behaviour,
    Peer,
    check_fault,
    exchange,
    fetch,
    idle_socket,
    start,
    tasks_living,
)
from helpers.tls import client_context, server_context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pynector
from pynector.http._native import _SEND_LOW_MARK, LARGE_READ_SIZE, NativeEngine, _Connection
from pynector.http._parser import END, ParseError, ResponseParser

#: Over 64 KiB: ``fetch`` reads it into a reusable buffer, ``aiter_raw`` in large pieces.
BIG = bytes(range(256)) * 1200 + b"end"  # 307,203 bytes


@pytest.fixture
async def engine() -> AsyncIterator[NativeEngine]:
    """An engine closed at the end of the test."""
    engine = NativeEngine(max_connections=4)
    yield engine
    await engine.aclose()


@pytest.fixture(params=["send", "fetch"])
def via(request: pytest.FixtureRequest) -> str:
    """How the response is read: ``send`` and ``aiter_raw``, or ``fetch`` (whole)."""
    return str(request.param)


def pattern(seed: int, size: int) -> bytes:
    """*size* bytes that differ from those of any other *seed* at every 256-byte block."""
    block = bytes((seed * 7 + i) % 256 for i in range(256))
    return (block * (size // 256 + 1))[:size]


def framed(body: bytes, *, chunked: bool = False) -> bytes:
    """A 200 response carrying *body*, framed by Content-Length or in 100,000-byte chunks."""
    if not chunked:
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[at : at + 100_000]), body[at : at + 100_000])
        for at in range(0, len(body), 100_000)
    )
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


def answer_in_pieces(pieces: list[bytes]) -> Behaviour:
    """Answer every request with *pieces*, one write each, the client reading each alone."""

    async def behaviour(peer: Peer) -> None:
        while await peer.read_request() is not None:
            for piece in pieces:
                await peer.send(piece)
                await trio.testing.wait_all_tasks_blocked()

    return behaviour


def answer_by_target(bodies: dict[str, bytes]) -> Behaviour:
    """Answer each request with the body named by its target (``/name``), keep-alive."""

    async def behaviour(peer: Peer) -> None:
        while (got := await peer.read_request()) is not None:
            await peer.send(framed(bodies[got[0].target.decode()[1:]]))

    return behaviour


# --- responses -------------------------------------------------------------------------------


@st.composite
def split_responses(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """A large Content-Length or chunked response and a split of it into writes, the cuts drawn
    anywhere, near the head's end and near the body's end included."""
    size = draw(st.integers(min_value=65_537, max_value=200_000))
    body = pattern(draw(st.integers(0, 255)), size)
    raw = framed(body, chunked=draw(st.booleans()))
    head_end = raw.index(b"\r\n\r\n") + 4
    near = st.sampled_from([1, head_end - 1, head_end, head_end + 1, len(raw) - 1, 65_536, 65_537])
    cuts = draw(st.lists(st.one_of(st.integers(1, len(raw) - 1), near), max_size=6))
    positions = sorted({cut for cut in cuts if 0 < cut < len(raw)})
    return body, [raw[a:b] for a, b in zip([0, *positions], [*positions, len(raw)], strict=True)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=split_responses(), via=st.sampled_from(["send", "fetch"]))
async def test_a_large_body_split_anywhere_arrives_whole(case: tuple[bytes, list[bytes]], via: str) -> None:
    """However the server splits a large response into writes, ``fetch`` and ``aiter_raw`` return
    the body byte for byte, twice on one kept-alive connection."""
    body, pieces = case
    async with trio.open_nursery() as nursery:
        server = await start(nursery, answer_in_pieces(pieces))
        async with NativeEngine() as engine:
            for _ in range(2):
                assert (200, body) == (await exchange(engine, server.request(), via))[::2]
            assert 1 == server.accepted
        nursery.cancel_scope.cancel()


async def test_each_fetch_keeps_its_own_bytes(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """The engine reuses its read buffers, never the bytes it handed out: a body returned earlier
    is unchanged after later fetches, sequential or concurrent, of other bodies."""
    bodies = {str(seed): pattern(seed, 150_000 + seed) for seed in range(6)}
    server = await start(nursery, *[answer_by_target(bodies)] * 4)
    first = (await engine.fetch(server.request(target="/0"), None, "first")).body
    second = (await engine.fetch(server.request(target="/1"), None, "second")).body
    got: dict[str, bytes] = {}

    async def one(name: str) -> None:
        got[name] = (await engine.fetch(server.request(target=f"/{name}"), None, name)).body

    async with trio.open_nursery() as tasks:
        for name in "2345":
            tasks.start_soon(one, name)
    assert (bodies["0"], bodies["1"]) == (first, second)
    assert {name: bodies[name] for name in "2345"} == got


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_aiter_raw_streams_a_large_body_in_bounded_pieces(
    nursery: trio.Nursery, engine: NativeEngine, chunked: bool
) -> None:
    """A 1 MiB body streams through ``aiter_raw`` in pieces of at most LARGE_READ_SIZE that join
    to the whole."""
    body = pattern(3, 1024 * 1024 + 3)
    server = await start(nursery, answer_in_pieces([framed(body, chunked=chunked)]))
    async with engine.send(server.request()) as response:
        pieces = [piece async for piece in response.aiter_raw()]
    assert body == b"".join(pieces)
    assert all(0 < len(piece) <= LARGE_READ_SIZE for piece in pieces)


async def test_a_large_body_over_tls_arrives_whole(nursery: trio.Nursery, ca: trustme.CA) -> None:
    """Over TLS (no reading into buffers: the pieces path) large bodies arrive whole, both ways."""
    server = await start(nursery, answer_in_pieces([framed(BIG)]), tls=server_context(ca, "127.0.0.1"))
    async with NativeEngine(verify=client_context(ca)) as engine:
        for via in ("fetch", "send"):
            assert (200, BIG) == (await exchange(engine, server.request(), via))[::2]
        assert 1 == server.accepted


async def test_a_large_body_cut_short_is_a_read_error(
    nursery: trio.Nursery, engine: NativeEngine, via: str
) -> None:
    """A large body shorter than its Content-Length (the server closed) is a ReadError caused by
    the parser's verdict; nothing is pooled and the client recovers."""

    async def short(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG))
        await peer.send(BIG[:100_000])
        await trio.testing.wait_all_tasks_blocked()
        await peer.send(BIG[100_000:-1])
        await peer.stream.aclose()

    server = await start(nursery, short)
    await check_fault(
        engine, server, pynector.ReadError, ParseError, "before the response body was complete", via=via
    )


async def test_read_buffers_grow_with_what_arrives(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """A declared length commits no memory by itself: a server that declares 16 MiB and sends
    100 KB leaves a 256 KiB buffer behind; a 3 MiB body that does arrive grows the buffer to fit
    (and arrives whole)."""

    async def declare_and_close(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (16 * 1024 * 1024))
        await peer.send(BIG[:100_000])
        await peer.stream.aclose()

    large = pattern(7, 3 * 1024 * 1024)
    server = await start(nursery, declare_and_close, answer_in_pieces([framed(large)]))
    with pytest.raises(pynector.ReadError, match="before the response body was complete"):
        await engine.fetch(server.request(), None, "the request")
    assert [256 * 1024] == [len(buffer) for buffer in engine._body_buffers]
    assert large == (await engine.fetch(server.request(), None, "the request")).body
    assert [len(large)] == [len(buffer) for buffer in engine._body_buffers]


async def test_bytes_after_a_large_body_never_reach_the_next_request(
    nursery: trio.Nursery, engine: NativeEngine
) -> None:
    """Bytes the server sends after a large body are not taken as the next response: the body
    is returned whole and that connection is not used again."""
    server = await start(nursery, answer_in_pieces([framed(BIG) + b"HTTP/1.1 200 OK\r\n\r\n"]))
    assert BIG == (await engine.fetch(server.request(), None, "the request")).body
    await trio.testing.wait_all_tasks_blocked()
    assert (200, b"hello") == (await fetch(engine, server.request()))[::2]
    assert 2 == server.accepted


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_cap_is_refused(
    nursery: trio.Nursery, engine: NativeEngine, chunked: bool
) -> None:
    """A body larger than ``max_bytes`` is a ProtocolError naming the cap, before the read when
    the Content-Length says so, mid-read for a chunked body; the connection is closed."""
    answer = answer_in_pieces([framed(BIG, chunked=chunked)])
    server = await start(nursery, answer, answer)
    tasks_before = tasks_living()
    with pytest.raises(pynector.ProtocolError, match="max_response_bytes=150000"):
        await engine.fetch(server.request(), 150_000, "the request")
    await server.wait_all_closed()
    assert tasks_before == tasks_living()
    assert BIG == (await engine.fetch(server.request(), len(BIG), "the request")).body


async def test_cancelled_large_read_closes_and_the_next_body_is_right(
    nursery: trio.Nursery, engine: NativeEngine
) -> None:
    """Cancelling a fetch in the middle of a large body closes its connection; the next large
    fetch (reusing the read buffer) returns its own body."""
    sent_half = trio.Event()

    async def stall(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(framed(BIG)[:120_000])
        sent_half.set()
        await trio.sleep_forever()

    other = pattern(9, len(BIG))
    server = await start(nursery, stall, answer_in_pieces([framed(other)]))
    async with trio.open_nursery() as tasks:
        tasks.start_soon(engine.fetch, server.request(), None, "the request")
        await sent_half.wait()
        await trio.testing.wait_all_tasks_blocked()
        tasks.cancel_scope.cancel()
    assert 0 == engine.statistics().open
    assert other == (await engine.fetch(server.request(), None, "the request")).body


# --- requests --------------------------------------------------------------------------------


async def test_large_request_bodies_arrive_byte_for_byte(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """Large bytes, bytearray and memoryview bodies (head and body in one sendmsg, finished piece
    by piece after partial writes), chunk-framed ones and streamed ones reach the server whole."""
    big = pattern(5, 3 * 1024 * 1024 + 1)  # larger than a socket buffer: the writes are partial
    words = array.array("H", range(60_000))
    signed = memoryview(bytearray(big[:200_000])).cast("b")  # signed bytes: sent as they are

    async def pieces() -> AsyncIterator[bytes]:
        yield big[:100_000]
        yield memoryview(big)[100_000:]  # type: ignore[misc]

    chunked = (("Transfer-Encoding", "chunked"),)
    declared = (("Content-Length", str(len(big))),)
    bodies = [
        big,
        bytearray(big),
        memoryview(big),
        memoryview(words),
        signed,
        pieces(),
        [big[:70_000], big[70_000:]],
    ]
    server = await start(nursery)
    with trio.fail_after(30):  # a guard (real time): a lost byte would leave the server waiting
        for body in bodies:
            await fetch(engine, server.request("POST", body=body))  # type: ignore[arg-type]
        await fetch(engine, server.request("POST", headers=chunked, body=big))
        await fetch(engine, server.request("POST", headers=declared, body=pieces()))
    expected = [big, big, big, words.tobytes(), big[:200_000], big, big, big, big]
    assert expected == [body for _, body in server.requests]
    framing = [dict(request.headers) for request, _ in server.requests]
    assert [b"chunked"] * 3 == [headers[b"transfer-encoding"] for headers in framing[5:8]]
    assert b"%d" % len(big) == framing[0][b"content-length"] == framing[8][b"content-length"]
    assert 1 == server.accepted


@pytest.mark.skipif(not hasattr(socket, "TCP_NOTSENT_LOWAT"), reason="no TCP_NOTSENT_LOWAT here")
async def test_connections_let_the_kernel_queue_a_large_body(
    nursery: trio.Nursery, engine: NativeEngine
) -> None:
    """trio's 16 KiB low mark for unsent bytes is raised on the engine's connections, so a large
    request body is not written 16 KiB at a time."""
    server = await start(nursery)
    await fetch(engine, server.request())
    sock = idle_socket(engine)
    assert _SEND_LOW_MARK == sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(min_value=0, max_value=300_000), min_size=1, max_size=5))
async def test_send_parts_sends_every_byte_in_order(sizes: list[int]) -> None:
    """``writev`` of several parts through a small socket buffer (partial writes at any offset,
    inside any part) delivers their concatenation."""
    parts: list[bytes | memoryview] = [
        pattern(i, size) if i % 2 else memoryview(pattern(i, size)) for i, size in enumerate(sizes)
    ]
    expected = b"".join(bytes(part) for part in parts)
    left, right = trio.socket.socketpair()
    with left, right:
        left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        received = bytearray()

        async def drain() -> None:
            while len(received) < len(expected):
                received.extend(await right.recv(65536))

        # A real-time bound only as a guard: a lost byte would leave drain() waiting forever.
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(drain)
                connection = _Connection(trio.SocketStream(left), 65536, NativeEngine()._pool)
                await connection.send_parts(parts)
    assert expected == received


# --- the parser's buffer hand-off ------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_read_of_its_own_is_handed_on_as_is(chunked: bool) -> None:
    """A read holding only body bytes (of a Content-Length body, or inside a chunk's data) comes
    back from ``next_body`` as the same ``bytes`` object: no copy."""
    parser = ResponseParser(65536)
    framing = b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % 10 if chunked else b"Content-Length: 10\r\n\r\n"
    parser.receive_data(b"HTTP/1.1 200 OK\r\n" + framing)
    assert parser.next_head() is not None
    assert parser.next_body() is None
    first, second = b"01234", b"56789"
    parser.receive_data(first)
    assert first is parser.next_body()
    parser.receive_data(second)
    assert second is parser.next_body()
    if chunked:
        parser.receive_data(b"\r\n0\r\n\r\n")
    assert END is parser.next_body()


@settings(max_examples=100)
@given(
    body=st.binary(min_size=1, max_size=2000),
    head_cut=st.integers(min_value=0, max_value=2000),
    extra=st.binary(max_size=10),
)
def test_taking_a_body_into_a_buffer_equals_reading_it(body: bytes, head_cut: int, extra: bytes) -> None:
    """Whatever part of a Content-Length body arrived with the head (in ``bytes`` or buffered),
    ``take_body_into`` plus ``body_received`` yields the body ``next_body`` yields, ends the
    body, and leaves bytes after it buffered."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    raw = head + body + extra
    first, rest = raw[: len(head) + head_cut], raw[len(head) + head_cut :]
    parser = ResponseParser(65536)
    parser.receive_data(first)
    assert parser.next_head() is not None
    if rest and len(first) - len(head) == 0:
        parser.receive_data(rest[: len(body)])  # a body read of its own (handed on as bytes)
        rest = rest[len(body) :]
    left = parser.length_left()
    assert len(body) == left
    buffer = bytearray(left)
    with memoryview(buffer) as view:
        filled = parser.take_body_into(view)
        missing = body[filled:]
        view[filled:] = missing  # what the engine reads straight into the buffer
    parser.body_received(len(missing))
    assert body == buffer
    assert END is parser.next_body()
    taken_extra = raw[len(head) + len(body) :][: max(0, len(first) - len(head) - len(body))]
    assert len(taken_extra) == parser.trailing
