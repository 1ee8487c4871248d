"""The native HTTP/1.1 engine against real loopback servers written here, byte by byte.

Fault tests check four things after every fault: the right error (the most specific pynector class,
the original as ``__cause__``); no task left; nothing leaked (the server sees EOF or reset, nothing
pooled that should not be); the client recovers (a following request succeeds and the pool
statistics are back to baseline).
"""

from __future__ import annotations

import array
import os
import random
import socket
import ssl
from collections.abc import AsyncIterator, Iterator

import pytest
import trio
import trio.testing
import trustme
from helpers.native_server import (
    BASELINE,
    OK,
    Behaviour,
    Peer,
    Server,
    check_fault,
    fetch,
    idle_socket,
    start,
    tasks_living,
)
from helpers.tls import server_context
from hypothesis import given, settings
from hypothesis import strategies as st

import pynector
from pynector._pool import PoolStatistics
from pynector.http._engine import WireRequest
from pynector.http._native import NativeEngine, _Connection
from pynector.http._parser import FramingError, ParseError


@pytest.fixture
async def engine() -> AsyncIterator[NativeEngine]:
    """An engine closed at the end of the test."""
    engine = NativeEngine(max_connections=4)
    yield engine
    await engine.aclose()


@pytest.fixture(params=["send", "fetch"])
def via(request: pytest.FixtureRequest) -> str:
    """How a fault test reads the response: ``send`` and the body iterator, or ``fetch`` (whole)."""
    return str(request.param)


# --- happy paths -----------------------------------------------------------------------------


async def test_get_returns_status_headers_and_body(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """A GET yields the status, reason, version, lower-case headers and the body."""

    async def answer(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 201 Created\r\nX-Thing: A b\r\nContent-Length: 2\r\n\r\nhi")

    server = await start(nursery, answer)
    async with engine.send(server.request(target="/p?q=1", headers=(("Accept", "x/y"),))) as response:
        assert (201, "Created", "1.1") == (response.status_code, response.reason, response.http_version)
        assert ("x-thing", "A b") in response.headers
        assert [b"hi"] == [chunk async for chunk in response.aiter_raw()]
    sent, _ = server.requests[0]
    assert (b"GET", b"/p?q=1") == (sent.method, sent.target)
    assert (b"host", f"127.0.0.1:{server.port}".encode()) in list(sent.headers)
    assert (b"accept", b"x/y") in list(sent.headers)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"X-Name: plain\r\nX-Other: B", [("x-name", "plain"), ("x-other", "B")]),
        ("X-Name: café".encode(), [("x-name", "café")]),  # UTF-8
        (b"X-Name: caf\xe9\r\nX-Other: \xc3\xa9", [("x-name", "café"), ("x-other", "Ã©")]),  # Latin-1
    ],
)
async def test_streamed_headers_decode_as_httpx_decodes_them(
    nursery: trio.Nursery, engine: NativeEngine, raw: bytes, shown: list[tuple[str, str]]
) -> None:
    """Header names come lower-cased and values decoded by httpx's rule for the whole head (ASCII,
    else UTF-8, else Latin-1), the same as a fetched response's ``Response.headers`` shows them."""

    async def answer(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\n" + raw + b"\r\nContent-Length: 0\r\n\r\n")

    server = await start(nursery, answer)
    async with engine.send(server.request()) as response:
        assert [*shown, ("content-length", "0")] == response.headers


async def test_post_bytes_body_is_sent_with_content_length(
    nursery: trio.Nursery, engine: NativeEngine
) -> None:
    """A bytes body goes out with Content-Length and arrives intact."""
    server = await start(nursery)
    body = bytes(range(256)) * 1000  # larger than one coalesced write
    assert 200 == (await fetch(engine, server.request("POST", body=body)))[0]
    sent, received = server.requests[0]
    assert body == received
    assert (b"content-length", str(len(body)).encode()) in list(sent.headers)


async def test_empty_post_sends_content_length_zero(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """An empty POST says Content-Length: 0; an empty GET sends no framing header."""
    server = await start(nursery)
    await fetch(engine, server.request("POST"))
    await fetch(engine, server.request("GET"))
    post, get = (dict(request.headers) for request, _ in server.requests)
    assert b"0" == post[b"content-length"]
    assert b"content-length" not in get
    assert b"transfer-encoding" not in get


async def test_sync_iterable_body_is_chunked(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """A sync iterable body is streamed with chunked encoding (empty chunks skipped)."""
    server = await start(nursery)
    await fetch(engine, server.request("PUT", body=iter([b"ab", b"", b"cd"])))
    sent, received = server.requests[0]
    assert b"abcd" == received
    assert b"chunked" == dict(sent.headers)[b"transfer-encoding"]


async def test_async_iterable_body_with_content_length(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """An async iterable body with a Content-Length header is sent with that framing."""
    server = await start(nursery)

    async def chunks() -> AsyncIterator[bytes]:
        for piece in (b"one", b"two"):
            await trio.lowlevel.checkpoint()
            yield piece

    request = server.request("POST", headers=(("Content-Length", "6"),), body=chunks())
    await fetch(engine, request)
    sent, received = server.requests[0]
    assert b"onetwo" == received
    assert b"transfer-encoding" not in dict(sent.headers)


async def test_body_shorter_than_content_length_is_a_protocol_error(
    nursery: trio.Nursery, engine: NativeEngine
) -> None:
    """A streamed body that does not match its declared Content-Length fails and is not sent on."""
    server = await start(nursery)
    request = server.request("POST", headers=(("Content-Length", "10"),), body=[b"short"])
    with pytest.raises(pynector.ProtocolError, match="Content-Length") as info:
        await fetch(engine, request)
    assert isinstance(info.value.__cause__, FramingError)
    await server.wait_all_closed()


async def test_chunked_response_streams_in_pieces(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """A chunked response arrives chunk by chunk as the server sends it."""
    step = trio.Event()

    async def answer(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await step.wait()
        await peer.send(b"6\r\nsecond\r\n0\r\n\r\n")

    server = await start(nursery, answer)
    async with engine.send(server.request()) as response:
        body = response.aiter_raw()
        assert b"first" == await body.__anext__()
        step.set()
        assert [b"second"] == [chunk async for chunk in body]
    assert 1 == engine.statistics().idle  # complete and clean: kept for reuse


async def test_keep_alive_reuses_one_connection(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """Sequential requests to one origin share one connection; statistics show it idle in between."""
    server = await start(nursery)
    for _ in range(3):
        assert (200, b"hello") == (await fetch(engine, server.request()))[::2]
    assert 1 == server.accepted
    assert PoolStatistics(open=1, idle=1, in_use=0, waiters=0) == engine.statistics()
    await engine.aclose()
    await server.wait_all_closed()
    assert BASELINE == engine.statistics()


async def test_statistics_during_an_exchange(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """Inside the block the connection counts as in use; after it, as idle."""
    server = await start(nursery)
    async with engine.send(server.request()) as response:
        assert PoolStatistics(open=1, idle=0, in_use=1, waiters=0) == engine.statistics()
        async for _ in response.aiter_raw():
            pass
    assert PoolStatistics(open=1, idle=1, in_use=0, waiters=0) == engine.statistics()


async def test_connection_close_response_is_not_reused(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """A ``Connection: close`` response closes the connection; the next request opens a new one."""

    async def close_after_one(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello")

    server = await start(nursery, close_after_one)
    assert b"hello" == (await fetch(engine, server.request()))[2]
    await server.wait_all_closed()
    assert 0 == engine.statistics().open
    assert b"hello" == (await fetch(engine, server.request()))[2]
    assert 2 == server.accepted


async def test_read_until_close_body(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """An HTTP/1.0 style body without length ends at EOF and is complete."""

    async def answer(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.0 200 OK\r\n\r\npart one, ")
        await peer.send(b"part two")
        await peer.stream.aclose()

    server = await start(nursery, answer)
    assert (200, b"part one, part two") == (await fetch(engine, server.request()))[::2]
    assert 0 == engine.statistics().open


@pytest.mark.parametrize(
    ("method", "head"),
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n"),
    ],
)
async def test_bodyless_responses(
    nursery: trio.Nursery, engine: NativeEngine, method: str, head: bytes
) -> None:
    """HEAD, 204 and 304 have no body whatever their headers say, and the connection is reused."""

    async def answer(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.send(head)

    server = await start(nursery, answer)
    for _ in range(2):
        assert (200 if method == "HEAD" else int(head[9:12]), b"") == (
            await fetch(engine, server.request(method))
        )[::2]
    async with engine.send(server.request(method)):
        pass  # not even iterating: the empty body is complete
    assert 1 == server.accepted
    assert 1 == engine.statistics().idle


async def test_unread_body_closes_the_connection(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """Leaving the block before a large body arrived closes the connection instead of reusing it."""

    async def answer(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 10)

    server = await start(nursery, answer)
    async with engine.send(server.request()) as response:
        assert 200 == response.status_code
    await server.wait_all_closed()
    assert BASELINE == engine.statistics()
    with pytest.raises(pynector.ReadError, match="after its block was left"):
        await response.aiter_raw().__anext__()


async def test_informational_response_is_skipped(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """A 1xx response before the real one is skipped."""

    async def answer(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + OK)

    server = await start(nursery, answer)
    assert (200, b"hello") == (await fetch(engine, server.request()))[::2]


async def test_concurrent_requests_respect_the_limit(nursery: trio.Nursery) -> None:
    """Twenty concurrent requests through two connections all succeed, never opening a third."""
    server = await start(nursery)
    results: list[bytes] = []

    async def one(engine: NativeEngine) -> None:
        results.append((await fetch(engine, server.request()))[2])

    async with NativeEngine(max_connections=2) as engine:
        async with trio.open_nursery() as inner:
            for _ in range(20):
                inner.start_soon(one, engine)
        assert [b"hello"] * 20 == results
        assert 2 >= server.accepted
        assert PoolStatistics(open=2, idle=2, in_use=0, waiters=0) == engine.statistics()


# --- byte-level faults ------------------------------------------------------------------------


def answer_once(raw: bytes, then_close: bool = False) -> Behaviour:
    """A behaviour that reads one request and writes *raw* (and closes, if asked)."""

    async def behaviour(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(raw)
        if then_close:
            await peer.stream.aclose()

    return behaviour


@pytest.mark.parametrize(
    ("raw", "close", "error", "message"),
    [
        (b"\x00\x01garbage\xff\r\n\r\n", False, pynector.ProtocolError, "malformed response head"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
            True,
            pynector.ReadError,
            "before the response body was complete",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Le", True, pynector.ReadError, "before a complete response head"),
        (b"", True, pynector.ReadError, "without a response"),
    ],
    ids=["garbage status line", "truncated body", "EOF inside the head", "closed before any byte"],
)
async def test_broken_responses(
    nursery: trio.Nursery,
    engine: NativeEngine,
    via: str,
    raw: bytes,
    close: bool,
    error: type[pynector.PynectorError],
    message: str,
) -> None:
    """Garbage instead of a status line is a ProtocolError; a response cut short by the server
    closing (in the body, in the head, before any byte) is a ReadError that says where."""
    server = await start(nursery, answer_once(raw, then_close=close))
    await check_fault(engine, server, error, ParseError, message, via=via)


async def test_extra_bytes_after_the_body(nursery: trio.Nursery, engine: NativeEngine, via: str) -> None:
    """Bytes after the end of the response, arriving with it, are a ProtocolError."""
    server = await start(nursery, answer_once(OK + b"HTTP/1.1 200 OK\r\n"))
    error = await check_fault(
        engine, server, pynector.ProtocolError, type(None), "unexpected byte(s)", via=via
    )
    assert "17 unexpected" in str(error)


async def test_extra_bytes_arriving_while_idle_are_not_reused(
    nursery: trio.Nursery, engine: NativeEngine
) -> None:
    """Bytes that arrive after the response completed make the idle connection unusable."""
    done = trio.Event()

    async def chatty(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(OK)
        await done.wait()
        await peer.send(b"surprise")

    server = await start(nursery, chatty)
    assert b"hello" == (await fetch(engine, server.request()))[2]
    done.set()
    with trio.fail_after(5):
        await trio.lowlevel.wait_readable(idle_socket(engine))  # the bytes are in flight on loopback
    assert b"hello" == (await fetch(engine, server.request()))[2]
    assert 2 == server.accepted


@pytest.mark.parametrize("size", [5000, 200_000])
async def test_oversized_headers(nursery: trio.Nursery, size: int, via: str) -> None:
    """A response head larger than max_header_bytes is a ProtocolError naming the limit.

    5000 bytes arrive complete in one read; 200,000 arrive over several (refused while incomplete).
    """
    raw = b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * size + b"\r\n" + b"Content-Length: 0\r\n\r\n"
    server = await start(nursery, answer_once(raw))
    cause = ParseError
    async with NativeEngine(max_header_bytes=4096) as engine:
        await check_fault(engine, server, pynector.ProtocolError, cause, "max_header_bytes=4096", via=via)


@pytest.mark.parametrize("chunk", [b"zz\r\nab\r\n0\r\n\r\n", b"-1\r\nab\r\n0\r\n\r\n", b"2\r\nabcdef"])
async def test_malformed_chunks(nursery: trio.Nursery, engine: NativeEngine, chunk: bytes, via: str) -> None:
    """A malformed chunk size or chunk framing is a ProtocolError."""
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk
    server = await start(nursery, answer_once(raw))
    await check_fault(engine, server, pynector.ProtocolError, ParseError, "malformed response body", via=via)


async def test_reset_mid_body(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """A TCP reset in the middle of the body is a ReadError caused by the reset."""

    async def reset(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        with trio.fail_after(5):
            while "partial" not in str(received):
                await received_changed.park()
        peer.reset()

    received: list[bytes] = []
    received_changed = trio.lowlevel.ParkingLot()
    server = await start(nursery, reset)
    tasks_before = tasks_living()

    async def read_all() -> None:
        async with engine.send(server.request()) as response:
            async for chunk in response.aiter_raw():
                received.append(chunk)
                received_changed.unpark_all()

    with pytest.raises(pynector.ReadError) as info:
        await read_all()
    # Plain TCP connections read from the socket itself: the cause is the reset, not trio's wrapper.
    assert isinstance(info.value.__cause__, ConnectionResetError)
    assert "ConnectionResetError" in str(info.value)
    await server.wait_all_closed()
    assert tasks_before == tasks_living()
    assert b"hello" == (await fetch(engine, server.request()))[2]


async def test_reset_before_response(nursery: trio.Nursery, engine: NativeEngine, via: str) -> None:
    """A reset instead of an answer is a ReadError."""

    async def reset(peer: Peer) -> None:
        await peer.read_request()
        peer.reset()

    server = await start(nursery, reset)
    await check_fault(
        engine, server, pynector.ReadError, ConnectionResetError, "reading the response", via=via
    )


async def test_server_closing_an_idle_connection_is_detected(
    nursery: trio.Nursery, engine: NativeEngine
) -> None:
    """A keep-alive connection the server closed while idle is discarded; the next request succeeds."""
    server = await start(nursery, answer_once(OK, then_close=True))
    assert b"hello" == (await fetch(engine, server.request()))[2]
    await server.wait_all_closed()
    assert 1 == engine.statistics().idle  # parked before the server closed it
    assert b"hello" == (await fetch(engine, server.request()))[2]
    assert 2 == server.accepted
    assert 1 == len(server.requests[1:])  # the stale connection was never written to


async def stale_after_one(peer: Peer) -> None:
    """Answer one request, then read the next and close without a byte (the keep-alive race)."""
    await peer.read_request()
    await peer.send(OK)
    await peer.read_request()
    await peer.stream.aclose()


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_idempotent_request_is_retried_once_on_a_fresh_connection(
    nursery: trio.Nursery, engine: NativeEngine, method: str
) -> None:
    """An idempotent request that meets a stale reused connection is sent again on a new one."""
    server = await start(nursery, stale_after_one)
    assert b"hello" == (await fetch(engine, server.request()))[2]
    assert b"hello" == (await fetch(engine, server.request(method, body=b"data")))[2]
    assert 2 == server.accepted
    assert [b"GET", method.encode(), method.encode()] == [r.method for r, _ in server.requests]


async def test_non_idempotent_request_is_not_retried(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """A POST that meets a stale reused connection fails with ReadError and is not resent."""
    server = await start(nursery, stale_after_one)
    await fetch(engine, server.request())
    with pytest.raises(pynector.ReadError, match="without a response"):
        await fetch(engine, server.request("POST", body=b"once"))
    assert 2 == len(server.requests)
    await server.wait_all_closed()
    assert BASELINE == engine.statistics()


async def test_streamed_body_is_not_retried(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """An idempotent request with a one-shot iterable body is not resent (it cannot be replayed)."""
    server = await start(nursery, stale_after_one)
    await fetch(engine, server.request())
    with pytest.raises(pynector.ReadError):
        await fetch(engine, server.request("PUT", body=iter([b"once"])))


async def test_stale_retry_happens_only_once(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """If the fresh connection fails too, the error is raised (no second retry)."""

    async def close_at_once(peer: Peer) -> None:
        await peer.read_request()
        await peer.stream.aclose()

    server = await start(nursery, stale_after_one, close_at_once)
    await fetch(engine, server.request())
    with pytest.raises(pynector.ReadError):
        await fetch(engine, server.request())
    assert 2 == server.accepted


async def test_server_never_answers_and_caller_deadline(
    nursery: trio.Nursery, engine: NativeEngine, autojump_clock: trio.testing.MockClock
) -> None:
    """A caller's deadline ends a request the server never answers; the connection is closed."""

    async def never(peer: Peer) -> None:
        await peer.read_request()  # and then only wait for EOF

    server = await start(nursery, never)
    tasks_before = tasks_living()
    with pytest.raises(trio.TooSlowError), trio.fail_after(30):
        await fetch(engine, server.request())
    assert BASELINE == engine.statistics()
    await server.wait_all_closed()
    assert tasks_before == tasks_living()
    assert b"hello" == (await fetch(engine, server.request()))[2]


async def test_secrets_stay_out_of_error_messages(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """Errors name the method and origin, never the target or header values."""
    server = await start(nursery, answer_once(b"garbage\r\n\r\n"))
    request = server.request(target="/x?api_key=SENTINEL", headers=(("Authorization", "Bearer SENTINEL"),))
    with pytest.raises(pynector.ProtocolError) as info:
        await fetch(engine, request)
    assert "SENTINEL" not in str(info.value)
    assert f"GET http://127.0.0.1:{server.port}" in str(info.value)
    bad = server.request(headers=(("X-Key", "SENTINEL\x00"),))
    with pytest.raises(pynector.ProtocolError) as info:
        await fetch(engine, bad)
    assert "SENTINEL" not in str(info.value)


# --- connecting ------------------------------------------------------------------------------


async def test_connection_refused(engine: NativeEngine) -> None:
    """A refused connection is a ConnectError with the OS reason."""
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(pynector.ConnectError) as info:
        await fetch(engine, WireRequest("GET", "http", "127.0.0.1", port, "/", ()))
    assert pynector.ConnectError is type(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert "ConnectionRefusedError" in str(info.value)
    assert BASELINE == engine.statistics()


async def test_unknown_host(engine: NativeEngine) -> None:
    """A host that does not resolve is a ConnectError."""
    with pytest.raises(pynector.ConnectError) as info:
        await fetch(engine, WireRequest("GET", "http", "no-such-host.invalid", 80, "/", ()))
    assert isinstance(info.value.__cause__, OSError)
    assert "no-such-host.invalid" in str(info.value)


async def test_connect_timeout(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    """A TLS handshake that never completes ends with ConnectTimeout after connect_timeout."""

    async def mute(peer: Peer) -> None:
        pass  # accept the TCP connection, then say nothing until EOF

    server = await start(nursery, mute)
    async with NativeEngine(connect_timeout=2.5) as engine:
        started = trio.current_time()
        with pytest.raises(pynector.ConnectTimeout) as info:
            await fetch(engine, WireRequest("GET", "https", "127.0.0.1", server.port, "/", ()))
        assert 2.5 == pytest.approx(trio.current_time() - started)
        assert isinstance(info.value, pynector.ConnectError)
        assert isinstance(info.value.__cause__, trio.TooSlowError)
        assert "connect_timeout=2.5" in str(info.value)
        await server.wait_all_closed()
        assert BASELINE == engine.statistics()


async def test_tls_positive_control(nursery: trio.Nursery, ca: trustme.CA) -> None:
    """With the CA trusted, HTTPS works and the connection is reused."""
    server = await start(nursery, tls=server_context(ca, "127.0.0.1"))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    async with NativeEngine(verify=client) as engine:
        for _ in range(2):
            assert (200, b"hello") == (await fetch(engine, server.request()))[::2]
        assert 1 == server.accepted


async def test_tls_untrusted_certificate_is_rejected(nursery: trio.Nursery, ca: trustme.CA) -> None:
    """A certificate from an unknown CA fails with TLSError giving the verification reason."""
    server = await start(nursery, tls=server_context(ca, "127.0.0.1"))
    async with NativeEngine() as engine:
        with pytest.raises(pynector.TLSError, match="unable to get local issuer certificate") as info:
            await fetch(engine, server.request())
        assert isinstance(info.value.__cause__, trio.BrokenResourceError)
        assert isinstance(info.value.__cause__.__cause__, ssl.SSLCertVerificationError)
        await server.wait_all_closed()
        assert BASELINE == engine.statistics()


async def test_tls_host_mismatch_is_rejected(nursery: trio.Nursery, ca: trustme.CA) -> None:
    """A trusted certificate for another host fails with TLSError naming the mismatch."""
    server = await start(nursery, tls=server_context(ca, "example.org"))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    async with NativeEngine(verify=client) as engine:
        with pytest.raises(pynector.TLSError, match="mismatch"):
            await fetch(engine, server.request())
        await server.wait_all_closed()


async def test_tls_verify_false_accepts_any_certificate(nursery: trio.Nursery, ca: trustme.CA) -> None:
    """verify=False skips verification (for tests against self-signed servers only)."""
    server = await start(nursery, tls=server_context(ca, "example.org"))
    async with NativeEngine(verify=False) as engine:
        assert 200 == (await fetch(engine, server.request()))[0]


# --- configuration and lifecycle -------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"http2": True}, 'transport_type="httpx"'),
        ({"proxy": "socks5://127.0.0.1:1080"}, 'transport_type="httpx"'),
        ({"trust_env": "no"}, "trust_env"),
        ({"server_hostname": ""}, "server_hostname"),
        ({"max_connections": 0}, "max_connections"),
        ({"max_connections": True}, "max_connections"),
        ({"max_connections_per_origin": -1}, "max_connections_per_origin"),
        ({"max_keepalive_connections": 1.5}, "max_keepalive_connections"),
        ({"keepalive_expiry": float("nan")}, "keepalive_expiry"),
        ({"connect_timeout": -1}, "connect_timeout"),
        ({"connect_timeout": float("inf")}, "connect_timeout"),
        ({"verify": "yes"}, "verify"),
        ({"max_header_bytes": 10}, "max_header_bytes"),
    ],
)
def test_invalid_options_fail_at_construction(options: dict[str, object], message: str) -> None:
    """Every invalid option raises ConfigurationError naming it, at construction."""
    with pytest.raises(pynector.ConfigurationError, match=message):
        NativeEngine(**options)  # type: ignore[arg-type]


async def test_closed_engine_refuses_requests(nursery: trio.Nursery) -> None:
    """After aclose() the idle connection is closed and new requests raise ClientClosedError."""
    server = await start(nursery)
    engine = NativeEngine()
    await fetch(engine, server.request())
    await engine.aclose()
    await engine.aclose()  # idempotent
    await server.wait_all_closed()
    with pytest.raises(pynector.ClientClosedError):
        await fetch(engine, server.request())


async def test_close_while_in_flight_closes_the_connection_on_release(nursery: trio.Nursery) -> None:
    """Closing the engine during an exchange lets it finish, then closes its connection."""
    server = await start(nursery)
    engine = NativeEngine()
    async with engine.send(server.request()) as response:
        await engine.aclose()
        assert [b"hello"] == [chunk async for chunk in response.aiter_raw()]
    await server.wait_all_closed()
    assert BASELINE == engine.statistics()


# --- cancellation sweep ----------------------------------------------------------------------


async def test_cancellation_sweep(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    """1,000 rounds of 6 callers on 2 connections, each cancelled at a random point of its exchange.

    Half the callers are cancelled after a random number of scheduler checkpoints (hitting the early
    ones: pool wait, connect, write), half by a random virtual deadline (hitting the reads, while the
    server pauses between head and body). Afterwards nothing is in use or waiting, every completed
    response was intact (a half-read connection handed to the next request would garble it), no task
    is left, and a healthy request succeeds.
    """
    rng = random.Random(4)
    body = b"first-half/second-half"

    async def slow(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await trio.sleep(rng.uniform(0, 0.003))
            await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nfirst-half/\r\n")
            await trio.sleep(rng.uniform(0, 0.003))
            await peer.send(b"b\r\nsecond-half\r\n0\r\n\r\n")

    server = Server()
    server.behaviours = [slow] * 100_000
    await nursery.start(server.serve)
    tasks_before = tasks_living()
    outcomes = {"completed": 0, "cancelled": 0}
    engine = NativeEngine(max_connections=2)

    async def caller(checkpoints: int | None, deadline: float) -> None:
        with trio.CancelScope() as scope:
            if checkpoints is None:
                scope.deadline = trio.current_time() + deadline
            else:
                canceller.start_soon(cancel_after, scope, checkpoints)
            assert (200, body) == (await fetch(engine, server.request()))[::2]
        outcomes["cancelled" if scope.cancelled_caught else "completed"] += 1

    async def cancel_after(scope: trio.CancelScope, checkpoints: int) -> None:
        for _ in range(checkpoints):
            await trio.lowlevel.checkpoint()
        scope.cancel()

    for _ in range(1000):
        async with trio.open_nursery() as canceller:
            for _ in range(6):
                checkpoints = rng.randrange(60) if rng.random() < 0.5 else None
                canceller.start_soon(caller, checkpoints, rng.uniform(0, 0.008))
        stats = engine.statistics()
        assert (0, 0) == (stats.in_use, stats.waiters)
        assert stats.open == stats.idle <= 2
        # White-box: only connections between exchanges may sit in the pool.
        for queue in engine._pool._idle.values():
            for connection, _ in queue:
                assert connection.parser.idle
    assert outcomes["completed"] > 500
    assert outcomes["cancelled"] > 500
    assert body == (await fetch(engine, server.request()))[2]
    await engine.aclose()
    await server.wait_all_closed()
    assert BASELINE == engine.statistics()
    assert tasks_before == tasks_living()


# --- property: framing survives any segmentation ---------------------------------------------


@settings(max_examples=40)
@given(
    body=st.binary(max_size=300),
    chunked=st.booleans(),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=6),
)
async def test_any_segmentation_of_a_response_reads_the_same(
    body: bytes, chunked: bool, cuts: list[int]
) -> None:
    """However the server splits the response into writes, the body arrives whole and the connection
    is kept for reuse."""
    if chunked:
        framed = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:100], body[100:]) if part)
        raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n"
    else:
        raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    positions = sorted({cut for cut in cuts if cut < len(raw)})
    pieces = [raw[a:b] for a, b in zip([0, *positions], [*positions, len(raw)], strict=True)]

    async def segmented(peer: Peer) -> None:
        while await peer.read_request() is not None:
            for piece in pieces:
                await peer.send(piece)
                await trio.testing.wait_all_tasks_blocked()  # let the client read each piece alone

    async with trio.open_nursery() as nursery:
        server = await start(nursery, segmented)
        async with NativeEngine() as engine:
            for _ in range(2):
                assert (200, body) == (await fetch(engine, server.request()))[::2]
            assert 1 == server.accepted
        nursery.cancel_scope.cancel()


async def test_bytearray_body_is_sent_whole(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """A bytearray or memoryview body is sent like bytes, with Content-Length."""
    server = await start(nursery)
    await fetch(engine, server.request("POST", body=bytearray(b"abc")))  # type: ignore[arg-type]
    await fetch(engine, server.request("POST", body=memoryview(b"defg")))  # type: ignore[arg-type]
    assert [b"abc", b"defg"] == [body for _, body in server.requests]
    assert [b"3", b"4"] == [dict(request.headers)[b"content-length"] for request, _ in server.requests]


async def test_large_bodies_arrive_intact(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """Bodies over 64 KiB (sent after the head, not concatenated with it) and large streamed chunks
    arrive byte for byte, framed by Content-Length or chunked as before."""
    server = await start(nursery)
    big = bytes(range(256)) * 800  # 204,800 bytes
    words = array.array("H", range(40_000))  # a memoryview of 2-byte items is sent as its bytes

    async def pieces() -> AsyncIterator[bytes]:
        yield big
        yield b"tail"

    await fetch(engine, server.request("POST", body=big))
    await fetch(engine, server.request("POST", body=bytearray(big)))  # type: ignore[arg-type]
    await fetch(engine, server.request("POST", body=memoryview(words)))  # type: ignore[arg-type]
    await fetch(engine, server.request("POST", body=pieces()))
    await fetch(
        engine, server.request("POST", headers=(("Content-Length", str(len(big) + 4)),), body=pieces())
    )
    assert [big, big, words.tobytes(), big + b"tail", big + b"tail"] == [body for _, body in server.requests]
    framing = [dict(request.headers) for request, _ in server.requests]
    assert [b"204800", b"204800", b"80000"] == [headers[b"content-length"] for headers in framing[:3]]
    assert b"chunked" == framing[3][b"transfer-encoding"]


async def test_streamed_body_longer_than_content_length_is_refused(
    nursery: trio.Nursery, engine: NativeEngine
) -> None:
    """A streamed body that overruns its Content-Length fails before the extra bytes are sent."""
    server = await start(nursery)
    request = server.request("POST", headers=(("Content-Length", "3"),), body=[b"ab", b"cd"])
    with pytest.raises(pynector.ProtocolError, match="Content-Length") as info:
        await fetch(engine, request)
    assert isinstance(info.value.__cause__, FramingError)
    await server.wait_all_closed()


async def test_tls_sends_sni_and_alpn(nursery: trio.Nursery, ca: trustme.CA) -> None:
    """The engine's own TLS context sends the host name (SNI) and offers ALPN ``http/1.1``."""
    context = server_context(ca, "localhost")
    context.set_alpn_protocols(["http/1.1"])
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc]
    alpn: list[str | None] = []

    async def record_alpn(peer: Peer) -> None:
        while await peer.read_request() is not None:
            alpn.append(peer.stream.selected_alpn_protocol())  # type: ignore[attr-defined]
            await peer.send(OK)

    server = await start(nursery, record_alpn, tls=context)
    async with NativeEngine(verify=False) as engine:
        assert 200 == (await fetch(engine, server.request(host="localhost")))[0]
    assert (["localhost"], ["http/1.1"]) == (names, alpn)


async def test_write_failure_is_a_write_error(nursery: trio.Nursery, engine: NativeEngine) -> None:
    """A server that resets while a large body is being sent gives WriteError with the cause."""

    async def reset_early(peer: Peer) -> None:
        await peer.stream.receive_some(65536)
        peer.reset()

    server = await start(nursery, reset_early)
    with pytest.raises(pynector.WriteError) as info:
        await fetch(engine, server.request("POST", body=b"x" * 32_000_000))
    assert isinstance(info.value.__cause__, (ConnectionResetError, BrokenPipeError))
    assert "while sending the request" in str(info.value)
    await server.wait_all_closed()
    assert BASELINE == engine.statistics()
    assert b"hello" == (await fetch(engine, server.request()))[2]


async def test_failing_body_iterator_propagates_and_closes(
    nursery: trio.Nursery, engine: NativeEngine
) -> None:
    """An exception from the caller's body iterator reaches the caller unchanged; the half-sent
    request's connection is closed, not reused."""

    def chunks() -> Iterator[bytes]:
        yield b"partial"
        raise LookupError("the caller's own bug")

    server = await start(nursery)
    with pytest.raises(LookupError, match="caller's own bug"):
        await fetch(engine, server.request("POST", body=chunks()))
    await server.wait_all_closed()
    assert BASELINE == engine.statistics()
    assert b"hello" == (await fetch(engine, server.request()))[2]


# --- the connection's own I/O on plain sockets ------------------------------------------------------


async def connected_pair() -> tuple[_Connection, trio.SocketStream]:
    """A plain-TCP-like :class:`_Connection` (a socket pair) and the peer's stream."""
    ours, theirs = trio.socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # so that a large write must wait
    return _Connection(trio.SocketStream(ours), 65536, NativeEngine()._pool), trio.SocketStream(theirs)


async def test_a_request_larger_than_the_socket_buffer_is_written_whole() -> None:
    """``send_request`` and ``send_all`` wait for room when the kernel buffer is full and write every
    byte, in order, whatever the peer's pace."""
    connection, peer = await connected_pair()
    data = bytes(range(256)) * 4096  # 1 MiB, far more than the buffers hold
    received = bytearray()

    async def read_slowly() -> None:
        while len(received) < 2 * len(data):
            received.extend(await peer.receive_some(8192))
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_slowly)
        await connection.send_request(data)
        await connection.send_all(memoryview(data))
    assert bytes(received) == data + data
    await connection.aclose()
    await peer.aclose()


@pytest.mark.skipif(os.name != "posix", reason="elsewhere the connection reads through the trio stream")
async def test_reads_give_what_arrived_then_end_of_stream_then_fail_once_closed() -> None:
    """``receive_some`` waits for bytes, returns them, ``b""`` once the peer has closed, and after the
    connection itself is closed it fails (the descriptor is asked again, never reused)."""
    connection, peer = await connected_pair()
    async with trio.open_nursery() as nursery:

        async def answer() -> None:
            await trio.testing.wait_all_tasks_blocked()  # the reader is waiting for bytes now
            await peer.send_all(b"hello")
            await peer.aclose()

        nursery.start_soon(answer)
        assert b"hello" == await connection.receive_some(65536)
    assert b"" == await connection.receive_some(65536)
    await connection.aclose()
    with pytest.raises(OSError, match=r"\[Errno 9\]"):  # EBADF: the closed socket's descriptor is -1
        await connection.receive_some(65536)
    with pytest.raises(OSError, match=r"\[Errno 9\]"):
        await connection.send_request(b"GET / HTTP/1.1\r\n\r\n")


async def test_a_cancelled_read_takes_no_byte() -> None:
    """``receive_some`` is a checkpoint before it reads: a caller already cancelled gets ``Cancelled``
    and the bytes stay on the socket."""
    connection, peer = await connected_pair()
    await peer.send_all(b"kept")
    with trio.CancelScope() as scope:
        scope.cancel()
        await connection.receive_some(65536)
    assert scope.cancelled_caught
    assert b"kept" == await connection.receive_some(65536)
    await connection.aclose()
    await peer.aclose()
