"""HTTP faults a client must survive (refused, reset, truncated, garbage, silence, drip, bombs...).

Every scenario runs through ``fault_scenario``: the fault is served on ``/fault`` by the loopback
server; on exit a healthy request through the same client must succeed (the client recovers), the
server must see every connection end (nothing leaked) and no task may be left. Each test checks the
error itself with ``assert_mapped``: the most specific pynector class, the original as ``__cause__``,
the root cause named in the message.
"""

from __future__ import annotations

import gzip
import socket
import tracemalloc
import zlib
from collections.abc import Iterator

import pytest
import trio
import trio.testing
from helpers.http_faults import assert_mapped, fault_scenario, tasks_living

import pynector
from pynector.http import Response
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _raw(data: bytes, then: str = "close"):  # type: ignore[no-untyped-def]
    async def handler(request: HTTPRequest, conn: ServerConnection) -> None:
        await conn.send_raw(data)
        if then == "close":
            await conn.close()
        elif then == "reset":
            conn.reset()
        else:
            await conn.wait_client_close()

    return handler


async def test_connection_refused(http_engine: str) -> None:
    """A refused connection is a ConnectError naming the refusal, marked as not sent."""
    port = _dead_port()

    async def unused(request: HTTPRequest, conn: ServerConnection) -> None:
        raise AssertionError("not reached")

    async with fault_scenario(unused, http_engine) as (_, client):
        with pytest.raises(pynector.ConnectError) as info:
            await client.request({"url": f"http://127.0.0.1:{port}/"})
    assert_mapped(info.value, pynector.ConnectError, "refused", f"127.0.0.1:{port}")
    assert info.value.request_sent is False


async def test_unknown_host(http_engine: str) -> None:
    """A name that cannot resolve is a ConnectError naming the host."""

    async def unused(request: HTTPRequest, conn: ServerConnection) -> None:
        raise AssertionError("not reached")

    async with fault_scenario(unused, http_engine) as (_, client):
        with pytest.raises(pynector.ConnectError) as info:
            await client.request({"url": "http://pynector-test.invalid/"})
    assert_mapped(info.value, pynector.ConnectError, "pynector-test.invalid")


async def test_connect_never_completes(http_engine: str, autojump_clock: trio.testing.MockClock) -> None:
    """A connect that hangs (full accept backlog) ends with ConnectTimeout at connect_timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)

    async def unused(request: HTTPRequest, conn: ServerConnection) -> None:
        raise AssertionError("not reached")

    try:
        async with fault_scenario(unused, http_engine, connect_timeout=3) as (_, client):
            start = trio.current_time()
            with pytest.raises(pynector.ConnectTimeout) as info:
                await client.request({"url": f"http://127.0.0.1:{port}/"})
            assert 3 == pytest.approx(trio.current_time() - start, abs=0.5)
    finally:
        for sock in (*fillers, listener):
            sock.close()
    assert_mapped(info.value, pynector.ConnectTimeout)
    assert info.value.request_sent is False


async def test_server_never_answers(http_engine: str, autojump_clock: trio.testing.MockClock) -> None:
    """A server that accepts and never answers is cut off by the total deadline."""

    async def silent(request: HTTPRequest, conn: ServerConnection) -> None:
        await conn.wait_client_close()

    async with fault_scenario(silent, http_engine, timeout=5) as (_, client):
        start = trio.current_time()
        with pytest.raises(pynector.TimeoutError) as info:
            await client.request({"url": "/fault"})
        assert 5 == pytest.approx(trio.current_time() - start, abs=0.1)
    assert_mapped(info.value, pynector.TimeoutError, "5s", "/fault")
    assert isinstance(info.value, TimeoutError)


async def test_server_closes_before_any_byte(http_engine: str) -> None:
    """A server hanging up without answering is a ReadError."""

    async def hang_up(request: HTTPRequest, conn: ServerConnection) -> None:
        await conn.close()

    async with fault_scenario(hang_up, http_engine) as (_, client):
        with pytest.raises(pynector.ReadError) as info:
            await client.request({"url": "/fault"})
    assert_mapped(info.value, pynector.ReadError, "127.0.0.1", "closed")


async def test_reset_before_response(http_engine: str) -> None:
    """A reset before any response byte is a ReadError naming the reset."""

    async def reset(request: HTTPRequest, conn: ServerConnection) -> None:
        conn.reset()

    async with fault_scenario(reset, http_engine) as (_, client):
        with pytest.raises(pynector.ReadError) as info:
            await client.request({"url": "/fault"})
    assert_mapped(info.value, pynector.ReadError, "reset")


@pytest.mark.parametrize(
    ("raw", "then", "expected", "fragment"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", "reset", pynector.ReadError, "reset"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", "close", pynector.ReadError, "closed"),
        (b"\x00\x01\xffgarbage\r\n\r\n", "close", pynector.ProtocolError, "illegal status line"),
        (
            b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",
            "close",
            pynector.ProtocolError,
            "illegal status line",
        ),
        (
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (256 * 1024) + b"\r\n\r\n",
            "close",
            pynector.ProtocolError,
            ("too long", "max_header_bytes"),
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n",
            "close",
            pynector.ProtocolError,
            "illegal chunk header",
        ),
    ],
    ids=[
        "reset-during-body",
        "truncated-body",
        "binary-garbage",
        "bad-status-line",
        "huge-header",
        "bad-chunk",
    ],
)
async def test_broken_responses(
    http_engine: str, raw: bytes, then: str, expected: type[Exception], fragment: str | tuple[str, ...]
) -> None:
    """Resets, truncation, garbage, oversized headers and bad chunking map to the right class."""
    async with fault_scenario(await _raw(raw, then), http_engine) as (_, client):
        with pytest.raises(expected) as info:
            await client.request({"url": "/fault"})
    assert_mapped(info.value, expected, fragment, "GET http://127.0.0.1")


async def test_headers_then_silence(http_engine: str, autojump_clock: trio.testing.MockClock) -> None:
    """Headers followed by silence still end at the total deadline (it covers the body read)."""
    handler = await _raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", then="wait")
    async with fault_scenario(handler, http_engine, timeout=3) as (_, client):
        with pytest.raises(pynector.TimeoutError) as info:
            await client.request({"url": "/fault"})
    assert_mapped(info.value, pynector.TimeoutError, "3s")


async def test_slow_drip_is_bounded_by_the_total_deadline(
    http_engine: str, autojump_clock: trio.testing.MockClock
) -> None:
    """A server dripping a byte every 0.2 s cannot stretch a 1 s deadline (httpx bounds each read only)."""

    async def drip(request: HTTPRequest, conn: ServerConnection) -> None:
        await conn.drip(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b"x" * 20, interval=0.2)
        await conn.close()

    async with fault_scenario(drip, http_engine, timeout=1) as (_, client):
        start = trio.current_time()
        with pytest.raises(pynector.TimeoutError):
            await client.request({"url": "/fault"})
        assert 1 == pytest.approx(trio.current_time() - start, abs=0.05)


async def test_endless_body_is_cut_at_max_response_bytes(http_engine: str) -> None:
    """An endless chunked body stops at max_response_bytes with a ProtocolError."""

    async def endless(request: HTTPRequest, conn: ServerConnection) -> None:
        await conn.send_raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            await conn.send_raw(b"4000\r\n" + b"z" * 0x4000 + b"\r\n")

    async with fault_scenario(endless, http_engine, max_response_bytes=100_000) as (_, client):
        with pytest.raises(pynector.ProtocolError) as info:
            await client.request({"url": "/fault"})
    assert_mapped(info.value, pynector.ProtocolError, "max_response_bytes=100000", chained=False)


def _gzip_bomb(decoded_size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts: Iterator[bytes] = (compressor.compress(block) for _ in range(decoded_size // len(block)))
    return b"".join(parts) + compressor.flush()


async def test_decompression_bomb_is_bounded(http_engine: str) -> None:
    """A 64 KiB gzip bomb (64 MiB decoded) is refused without allocating anywhere near 64 MiB."""
    bomb = _gzip_bomb(64 * 1024 * 1024)
    assert len(bomb) < 100 * 1024

    async def serve_bomb(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(200, [("Content-Encoding", "gzip")], bomb)

    async with fault_scenario(serve_bomb, http_engine, max_response_bytes=1024 * 1024) as (_, client):
        tracemalloc.start()
        try:
            with pytest.raises(pynector.ProtocolError) as info:
                await client.request({"url": "/fault"})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert_mapped(info.value, pynector.ProtocolError, "decoded", chained=False)
    assert peak < 8 * 1024 * 1024


async def test_gzip_body_within_cap_is_decoded(http_engine: str) -> None:
    """Positive control: a gzip body under the cap arrives decoded."""
    body = b"pynector " * 10_000

    async def serve(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(200, [("Content-Encoding", "gzip")], gzip.compress(body))

    async with fault_scenario(serve, http_engine) as (_, client):
        response = await client.request({"url": "/fault"})
    assert body == response.content


async def test_declared_length_over_cap_is_refused_before_reading(http_engine: str) -> None:
    """A Content-Length above the cap is refused from the headers alone."""
    handler = await _raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n", then="wait")
    async with fault_scenario(handler, http_engine, max_response_bytes=1000) as (_, client):
        with pytest.raises(pynector.ProtocolError) as info:
            await client.request({"url": "/fault"})
    assert "5000000" in str(info.value)


@pytest.mark.parametrize(
    "request_data",
    [
        {"url": "/fault", "headers": {"X-Test": "a\r\nInjected: yes"}},
        {"url": "/fault", "headers": {"X-Test\n": "a"}},
        {"url": "/fault", "headers": {"X-Test": "a\x00b"}},
        {"url": "/fault\r\nInjected: yes"},
        {"path": "/fault\x00"},
        {"url": "/fault", "params": {"q": "ok"}, "headers": [("X-A", "b\rc")]},
    ],
    ids=["crlf-value", "lf-name", "nul-value", "crlf-url", "nul-path", "cr-value-pairs"],
)
async def test_cr_lf_nul_are_rejected_before_sending(
    http_engine: str, request_data: dict[str, object]
) -> None:
    """CR, LF and NUL in header names, values and URLs raise ConfigurationError and send nothing."""

    async def unused(request: HTTPRequest, conn: ServerConnection) -> None:
        raise AssertionError("not reached")

    async with fault_scenario(unused, http_engine) as (server, client):
        with pytest.raises(pynector.ConfigurationError) as info:
            await client.request(request_data)
        assert 0 == server.connections_accepted
    assert "CR, LF or NUL" in str(info.value)


async def test_cr_lf_in_transport_options_are_rejected(http_engine: str) -> None:
    """Injection in base_url or default headers is refused at construction."""
    with pytest.raises(pynector.ConfigurationError):
        pynector.Pynector(transport_type=http_engine, base_url="http://127.0.0.1/\r\nX: y")
    with pytest.raises(pynector.ConfigurationError):
        pynector.Pynector(transport_type=http_engine, headers={"X-Key": "v\nX-Other: w"})


async def test_pool_exhaustion_queues_callers(http_engine: str) -> None:
    """More callers than connections wait their turn: never more than max_connections in flight."""
    in_handler = 0
    peak = 0

    async def slow(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        nonlocal in_handler, peak
        in_handler += 1
        peak = max(peak, in_handler)
        # Wall clock against a real server: 10 ms keep the handlers overlapping, so the peak shows
        # how many requests the pool let through at once.
        await trio.sleep(0.01)
        in_handler -= 1
        return HTTPResponse(200, body=b"done")

    async with fault_scenario(slow, http_engine, max_connections=2) as (_, client):
        requests = [({"url": f"/fault/{i}"}, {}) for i in range(10)]
        results = await client.batch_request(requests, max_concurrency=10)
    assert [b"done"] * 10 == [r.content for r in results]
    assert 2 == peak


async def test_batch_deadline_with_parked_and_slow_items(
    http_engine: str, autojump_clock: trio.testing.MockClock
) -> None:
    """A batch whose deadline expires keeps one slot per request, in order, result or exception."""

    async def route(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse | None:
        if request.path.endswith("/slow"):
            await conn.wait_client_close()
            return None
        return HTTPResponse(200, body=request.path.encode())

    paths = ["/fault/0", "/fault/slow", "/fault/2", "/fault/slow", "/fault/4", "/fault/5"]
    async with fault_scenario(route, http_engine, max_connections=2) as (_, client):
        results = await client.batch_request([({"url": p}, {}) for p in paths], max_concurrency=2, timeout=3)
    assert len(paths) == len(results)
    assert b"/fault/0" == results[0].content
    for index, result in enumerate(results):
        assert isinstance(result, (Response, pynector.TimeoutError)), index
    assert isinstance(results[1], pynector.TimeoutError)
    assert isinstance(results[3], pynector.TimeoutError)


async def test_close_while_requests_in_flight(http_engine: str) -> None:
    """Closing the client ends in-flight requests at once with ClientClosedError and frees every socket."""

    async def silent(request: HTTPRequest, conn: ServerConnection) -> None:
        await conn.wait_client_close()

    outcomes: list[BaseException] = []
    async with open_http_server(silent) as server:
        baseline = tasks_living()
        client = pynector.Pynector(transport_type=http_engine, base_url=server.url)
        await client.__aenter__()

        async def call() -> None:
            try:
                await client.request({"url": "/fault"})
            except pynector.PynectorError as exc:
                outcomes.append(exc)

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(call)
                await trio.testing.wait_all_tasks_blocked()
                await client.aclose()
        with pytest.raises(pynector.ClientClosedError):
            await client.request({"url": "/after"})
        with trio.fail_after(5):
            await server.wait_all_closed()
        await trio.testing.wait_all_tasks_blocked()
        assert baseline == tasks_living()
    assert [pynector.ClientClosedError] * 3 == [type(o) for o in outcomes]


async def test_one_client_shared_by_many_tasks(http_engine: str) -> None:
    """A thousand tasks share one client; every response is paired with its own request."""
    async with fault_scenario(_echo_path, http_engine, max_connections=8) as (_, client):
        seen: dict[int, bytes] = {}

        async def one(i: int) -> None:
            seen[i] = (await client.request({"url": f"/fault/{i}"})).content

        async with trio.open_nursery() as nursery:
            for i in range(1000):
                nursery.start_soon(one, i)
    assert {i: f"/fault/{i}".encode() for i in range(1000)} == seen


async def _echo_path(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    return HTTPResponse(200, body=request.path)
