"""The tcp, TLS, unix and framed memory transports: exchanges, faults, pool, concurrency."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trustme
from helpers.tls import client_context, server_context

import pynector
import pynector.message
from pynector.testing import (
    StreamServer,
    close_connection,
    reset_connection,
    send_raw,
    serve_tcp,
    serve_unix,
)
from pynector.transport import TCPTransport


def tasks_living() -> int:
    """Tasks alive in this trio run."""
    return trio.lowlevel.current_statistics().tasks_living


async def settle(server: StreamServer) -> None:
    """Wait until the server closed every connection it accepted (nothing leaked) and its tasks ended."""
    await trio.testing.wait_all_tasks_blocked()
    await server.wait_all_closed()
    await trio.testing.wait_all_tasks_blocked()


async def scripted(payload: bytes) -> Any:
    """Echo, or a fault named by the request: close, reset, silence, truncate, oversize, sleep:<s>."""
    if payload == b"close":
        return close_connection()
    if payload == b"reset":
        return reset_connection()
    if payload == b"silence":
        await trio.sleep(3600)
    if payload == b"truncate":
        return send_raw(b'{"partial": tr')
    if payload == b"oversize":
        return send_raw(b"x" * 100 + b"\n")
    if payload.startswith(b"sleep:"):
        await trio.sleep(float(payload[6:]))
    return payload


@asynccontextmanager
async def running(serve: Callable[..., Any], handler: Any, **kwargs: Any) -> AsyncIterator[StreamServer]:
    """Run a loopback server for the duration of the block."""
    async with trio.open_nursery() as nursery:
        server: StreamServer = await nursery.start(
            lambda task_status: serve(handler, task_status=task_status, **kwargs)
        )
        yield server
        nursery.cancel_scope.cancel()


def tcp_client(server: StreamServer, **options: Any) -> pynector.Pynector:
    """A client for *server* over the tcp transport."""
    options.setdefault("max_frame_size", 64)
    return pynector.Pynector(transport_type="tcp", host=server.host, port=server.port, **options)


# --- happy paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["line", "length", "raw"])
async def test_tcp_round_trip_each_framing(framing: str) -> None:
    """One request sends one frame and returns the reply frame as bytes; raw never reuses."""
    async with running(serve_tcp, scripted, framing=framing) as server:
        async with tcp_client(server, framing=framing) as client:
            assert b'{"op": "ping"}' == await client.request(b'{"op": "ping"}')
            assert b"again" == await client.request(b"again")
        await server.wait_all_closed()
    assert (1 if framing != "raw" else 2) == server.connections_accepted


async def test_connection_is_reused_and_pool_statistics() -> None:
    """Sequential requests reuse one pooled connection, which is idle afterwards."""
    async with running(serve_tcp, scripted) as server, tcp_client(server) as client:
        for i in range(5):
            assert b"%d" % i == await client.request(b"%d" % i)
        stats = client.transport.statistics()  # type: ignore[attr-defined]
        assert (1, 1, 0, 0) == (stats.open, stats.idle, stats.in_use, stats.waiters)
        assert 1 == server.connections_accepted


async def test_unix_round_trip(tmp_path: Path) -> None:
    """The unix transport exchanges frames with a server on a socket path."""
    path = tmp_path / "svc.sock"
    async with running(serve_unix, scripted, path=path, framing="length") as server:
        async with pynector.Pynector(transport_type="unix", path=path, framing="length") as client:
            assert b"\x00binary\n" == await client.request(b"\x00binary\n")
            with pytest.raises(pynector.ReadError):
                await client.request(b"close")
            assert b"ok" == await client.request(b"ok")
        await server.wait_all_closed()


async def test_unix_missing_socket_is_connect_error(tmp_path: Path) -> None:
    """Connecting to a path with no server is a ConnectError naming the OS error."""
    async with pynector.Pynector(transport_type="unix", path=tmp_path / "none.sock") as client:
        with pytest.raises(pynector.ConnectError, match="No such file") as info:
            await client.request(b"x")
    assert isinstance(info.value.__cause__, OSError)


class Upper:
    """A minimal message type: serialize() -> bytes, classmethod deserialize(bytes)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def serialize(self) -> bytes:
        return json.dumps({"text": self.text}).encode()

    @classmethod
    def deserialize(cls, data: bytes) -> Upper:
        return cls(json.loads(data)["text"].upper())


async def test_message_type_round_trip_and_errors() -> None:
    """With message_type, request() takes and returns messages; bad replies are DeserializationError."""

    def handler(payload: bytes) -> bytes:
        return b"not json" if b"bad" in payload else payload

    async with pynector.Pynector(
        transport_type="memory", handler=handler, framing="line", message_type=Upper
    ) as client:
        reply = await client.request(Upper("hi"))
        assert isinstance(reply, Upper)
        assert "HI" == reply.text
        with pytest.raises(pynector.DeserializationError, match=r"Upper\.deserialize"):
            await client.request(Upper("bad"))
        with pytest.raises(pynector.SerializationError, match="serialize"):
            await client.request(b"raw bytes")


@pytest.mark.parametrize(
    ("name", "cls"), [("json", pynector.message.JsonMessage), ("binary", pynector.message.BinaryMessage)]
)
def test_message_type_names(name: str, cls: type) -> None:
    """'json' and 'binary' name the pynector.message classes."""
    assert cls is TCPTransport(host="127.0.0.1", port=1, message_type=name).message_type


async def test_json_messages_round_trip_through_a_framed_transport() -> None:
    """With message_type="json", request() takes and returns JsonMessage objects (length framing)."""
    from pynector.message import JsonMessage

    def handler(payload: bytes) -> bytes:
        message = JsonMessage.deserialize(payload)
        return JsonMessage(
            {"reply-to": message.get_headers().get("id")}, {"echo": message.get_payload()}
        ).serialize()

    async with pynector.Pynector(
        transport_type="memory", handler=handler, framing="length", message_type="json"
    ) as client:
        reply = await client.request(JsonMessage({"id": "7"}, [1, "two", None]))
    assert isinstance(reply, JsonMessage)
    assert {"reply-to": "7"} == reply.get_headers()
    assert {"echo": [1, "two", None]} == reply.get_payload()


@pytest.mark.parametrize(
    "options",
    [
        {"host": "", "port": 1},
        {"host": "127.0.0.1", "port": 0},
        {"host": "127.0.0.1", "port": True},
        {"host": "127.0.0.1", "port": 1, "framing": "xml"},
        {"host": "127.0.0.1", "port": 1, "max_frame_size": -1},
        {"host": "127.0.0.1", "port": 1, "max_connections": 0},
        {"host": "127.0.0.1", "port": 1, "connect_timeout": float("nan")},
        {"host": "127.0.0.1", "port": 1, "message_type": "xml"},
        {"host": "127.0.0.1", "port": 1, "message_type": int},
        {"host": "127.0.0.1", "port": 1, "ssl_context": "yes"},
        {"host": "127.0.0.1", "port": 1, "server_hostname": "a.example"},
        {"host": "127.0.0.1", "port": 1, "tls": True, "framing": "raw"},
        {"host": "127.0.0.1", "port": 1, "path": "/tmp/x"},
    ],
)
def test_invalid_tcp_options(options: dict[str, Any]) -> None:
    """Invalid tcp options raise ConfigurationError at construction."""
    with pytest.raises(pynector.ConfigurationError):
        pynector.Pynector(transport_type="tcp", **options)


def test_invalid_memory_framed_options() -> None:
    """The framed memory transport validates its handler and options."""
    with pytest.raises(pynector.ConfigurationError, match="handler"):
        pynector.Pynector(transport_type="memory", framing="line")
    with pytest.raises(pynector.ConfigurationError, match="unknown option"):
        pynector.Pynector(transport_type="memory", handler=bytes, framing="line", host="x")


async def test_per_request_options_rejected() -> None:
    """Stream transports take no per-request options."""
    async with pynector.Pynector(transport_type="memory", handler=bytes, framing="line") as client:
        with pytest.raises(pynector.ConfigurationError, match="no per-request options"):
            await client.request(b"x", flag=1)


async def test_stale_idle_connection_is_replaced() -> None:
    """A pooled connection the server closed while idle is discarded and the request succeeds on a new one."""

    def handler(payload: bytes) -> Any:
        # Reply, then close: the client parks a connection that is already dead.
        return send_raw(payload + b"\n") if payload.startswith(b"last") else payload

    async with running(serve_tcp, handler) as server, tcp_client(server) as client:
        assert b"last one" == await client.request(b"last one")
        await settle(server)
        assert b"next" == await client.request(b"next")
        assert 2 == server.connections_accepted
        assert 2 == server.requests


async def test_all_idle_connections_stale_after_server_restart() -> None:
    """When every idle connection died, the request walks past them to a fresh one and succeeds."""

    def handler(payload: bytes) -> Any:
        return send_raw(payload + b"\n") if payload.startswith(b"bye") else payload

    async with running(serve_tcp, handler) as server, tcp_client(server, max_connections=3) as client:
        results = await client.batch_request([(b"bye%d" % i, {}) for i in range(3)], max_concurrency=3)
        assert [b"bye0", b"bye1", b"bye2"] == results
        await settle(server)
        assert b"next" == await client.request(b"next")
        assert 4 == server.requests  # each request processed once: no stale retry repeated one


async def test_embedded_newline_rejected_before_writing() -> None:
    """A line payload containing a newline fails with SerializationError and nothing reaches the peer."""
    async with running(serve_tcp, scripted) as server, tcp_client(server) as client:
        with pytest.raises(pynector.SerializationError, match="LF"):
            await client.request(b"a\nb")
        assert 0 == server.requests
        assert b"ok" == await client.request(b"ok")


# --- memory transport with framing ---------------------------------------------------------------


@pytest.mark.parametrize("framing", ["line", "length", "raw"])
async def test_memory_framed_runs_the_stream_code(framing: str) -> None:
    """The memory transport with framing serves the handler over an in-memory stream pair."""

    async def handler(payload: bytes) -> bytes:
        await trio.lowlevel.checkpoint()
        return payload[::-1]

    baseline = tasks_living()
    async with pynector.Pynector(transport_type="memory", handler=handler, framing=framing) as client:
        results = await client.batch_request([(b"abc%d" % i, {}) for i in range(20)], max_concurrency=5)
        assert [(b"abc%d" % i)[::-1] for i in range(20)] == results
        stats = client.transport.statistics()  # type: ignore[attr-defined]
        assert 0 == stats.in_use
    assert baseline == tasks_living()


async def test_memory_framed_handler_error_and_oversize() -> None:
    """A handler exception reaches the caller; an oversized reply is a ProtocolError; the pool recovers."""

    def handler(payload: bytes) -> bytes | None:
        if payload == b"boom":
            raise KeyError("boom")
        if payload == b"big":
            return b"x" * 20
        if payload == b"none":
            return None
        return payload

    async with pynector.Pynector(
        transport_type="memory", handler=handler, framing="length", max_frame_size=10
    ) as client:
        with pytest.raises(KeyError):
            await client.request(b"boom")
        with pytest.raises(pynector.SerializationError):  # the far side cannot frame it either
            await client.request(b"big")
        with pytest.raises(pynector.ReadError, match="before replying"):
            await client.request(b"none")
        assert b"ok" == await client.request(b"ok")
        assert 0 == client.transport.statistics().in_use  # type: ignore[attr-defined]


# --- faults: right error, no task left, nothing leaked, the client recovers ---------------------


FAULTS = [
    (b"close", pynector.ReadError, "closed the connection before replying", None),
    (b"reset", pynector.ReadError, "Connection reset", trio.BrokenResourceError),
    (b"truncate", pynector.ReadError, "middle of a frame", None),
    (b"oversize", pynector.ProtocolError, "above max_frame_size=64", None),
    (b"silence", pynector.TimeoutError, "timed out after 5s", trio.TooSlowError),
]


@pytest.mark.parametrize(("payload", "error", "message", "cause"), FAULTS, ids=lambda v: str(v)[:20])
async def test_fault(
    payload: bytes,
    error: type[Exception],
    message: str,
    cause: type[BaseException] | None,
    autojump_clock: Any,
) -> None:
    """Right class, message and cause; no task left; the server sees the close; the pool recovers."""
    async with running(serve_tcp, scripted) as server:
        baseline = tasks_living()
        async with tcp_client(server) as client:
            with pytest.raises(error, match=message) as info:
                await client.request(payload, timeout=5)
            if cause is not None:
                assert isinstance(info.value.__cause__, cause)
            stats = client.transport.statistics()  # type: ignore[attr-defined]
            assert (0, 0, 0) == (stats.open, stats.in_use, stats.waiters)
            results = await client.batch_request([(b"a", {}), (payload, {"timeout": 5}), (b"b", {})])
            assert b"a" == results[0]
            assert isinstance(results[1], error)
            assert b"b" == results[2]
        await settle(server)
        assert baseline == tasks_living()


async def test_connection_refused_then_recovers(autojump_clock: Any) -> None:
    """Refused connects are ConnectError with the OS reason; once a server listens, the same client works."""
    async with running(serve_tcp, scripted) as server:
        port = server.port
    client = pynector.Pynector(transport_type="tcp", host="127.0.0.1", port=port)
    async with client:
        with pytest.raises(pynector.ConnectError, match="Connection refused") as info:
            await client.request(b"x")
        assert isinstance(info.value.__cause__, OSError)
        async with running(serve_tcp, scripted, port=port):
            assert b"x" == await client.request(b"x")


async def test_connect_timeout(autojump_clock: Any) -> None:
    """A connect that never completes is a ConnectTimeout after connect_timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        # Fill the accept backlog so that further SYNs go unanswered.
        for _ in range(8):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            fillers.append(sock)
        transport = TCPTransport(host="127.0.0.1", port=port, connect_timeout=0.5)
        async with pynector.Pynector(transport=transport) as client:
            with pytest.raises(pynector.ConnectTimeout, match=r"timed out after 0\.5s") as info:
                await client.request(b"x")
        assert isinstance(info.value.__cause__, trio.TooSlowError)
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


async def cancel_after_checkpoints(client: pynector.Pynector, steps: int, payloads: list[bytes]) -> None:
    """Start one request per payload, then cancel them all after *steps* checkpoints."""
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:

            async def cancel_after() -> None:
                for _ in range(steps):
                    await trio.lowlevel.checkpoint()
                scope.cancel()

            for payload in payloads:
                nursery.start_soon(client.request, payload)
            nursery.start_soon(cancel_after)


async def test_cancellation_sweep(autojump_clock: Any) -> None:
    """Cancelling at every checkpoint of contended exchanges leaks no slot, task or connection."""
    async with running(serve_tcp, scripted) as server:
        baseline = tasks_living()
        async with tcp_client(server, max_connections=2) as client:
            for steps in range(40):
                await cancel_after_checkpoints(client, steps, [b"sleep:0.%d" % i for i in range(3)])
                stats = client.transport.statistics()  # type: ignore[attr-defined]
                assert (0, 0) == (stats.in_use, stats.waiters)
                assert stats.open <= 2
            assert b"after" == await client.request(b"after")
        await settle(server)
        assert baseline == tasks_living()


async def test_close_while_in_flight(autojump_clock: Any) -> None:
    """Closing the client fails in-flight requests with ClientClosedError and closes their connections."""
    async with running(serve_tcp, scripted) as server:
        baseline = tasks_living()
        client = tcp_client(server, max_connections=3)
        errors: list[BaseException] = []

        async def call() -> None:
            try:
                await client.request(b"silence")
            except pynector.PynectorError as exc:
                errors.append(exc)

        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(call)
            await trio.testing.wait_all_tasks_blocked()
            await client.aclose()
        assert 5 == len(errors)
        assert all(isinstance(e, pynector.ClientClosedError) for e in errors)
        with pytest.raises(pynector.ClientClosedError):
            await client.request(b"x")
        await settle(server)
        assert baseline == tasks_living()


async def test_thousand_concurrent_requests_matched(autojump_clock: Any) -> None:
    """1,000 concurrent requests with random server delays each get their own response, concurrently."""
    rng = random.Random(5)

    async def handler(payload: bytes) -> bytes:
        await trio.sleep(rng.random() / 10)
        return b"re:" + payload

    async with running(serve_tcp, handler) as server:
        async with tcp_client(server, max_connections=100, max_frame_size=1024) as client:
            start = trio.current_time()
            requests = [(b"%d" % i, {}) for i in range(1000)]
            results = await client.batch_request(requests, max_concurrency=1000, raise_on_error=True)
            elapsed = trio.current_time() - start
        assert [b"re:%d" % i for i in range(1000)] == results
        assert 1000 == server.requests
        assert server.connections_accepted <= 100
        assert elapsed < 5  # serialised, the random delays would add up to about 50 s


# --- TLS ------------------------------------------------------------------------------------------


async def test_tls_positive_control(ca: trustme.CA) -> None:
    """A certificate signed by a trusted CA for the host verifies, with SNI via server_hostname."""
    async with running(serve_tcp, scripted, ssl_context=server_context(ca, "svc.example")) as server:
        async with tcp_client(
            server, ssl_context=client_context(ca), server_hostname="svc.example"
        ) as client:
            assert b"secure" == await client.request(b"secure")
            assert b"again" == await client.request(b"again")
        await server.wait_all_closed()
    assert 1 == server.connections_accepted


async def test_tls_untrusted_certificate_rejected(ca: trustme.CA) -> None:
    """tls=True verifies by default: an unknown CA is a TLSError with the verification reason."""
    async with running(serve_tcp, scripted, ssl_context=server_context(ca, "127.0.0.1")) as server:
        baseline = tasks_living()
        async with tcp_client(server, tls=True) as client:
            with pytest.raises(pynector.TLSError, match="unable to get local issuer certificate") as info:
                await client.request(b"x")
        assert isinstance(info.value.__cause__, trio.BrokenResourceError)
        await settle(server)
        assert baseline == tasks_living()


async def test_tls_host_mismatch(ca: trustme.CA) -> None:
    """A trusted certificate for another name is a TLSError naming the mismatch."""
    async with running(serve_tcp, scripted, ssl_context=server_context(ca, "other.example")) as server:
        async with tcp_client(server, ssl_context=client_context(ca)) as client:
            with pytest.raises(pynector.TLSError, match="mismatch"):
                await client.request(b"x")
        await server.wait_all_closed()


# --- stream conformance --------------------------------------------------------------------------


async def _tcp_pair() -> tuple[trio.abc.Stream, trio.abc.Stream]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    transport = TCPTransport(host="127.0.0.1", port=port)
    client = await transport._open_stream()
    server = await listeners[0].accept()
    await listeners[0].aclose()
    return client, server


async def test_tcp_connections_are_half_closeable_streams() -> None:
    """The streams the tcp transport opens pass trio's half-closeable stream conformance suite."""
    await trio.testing.check_half_closeable_stream(_tcp_pair, None)


async def test_unix_connections_are_half_closeable_streams(tmp_path: Path) -> None:
    """The streams the unix transport opens pass trio's half-closeable stream conformance suite."""
    count = 0

    async def pair() -> tuple[trio.abc.Stream, trio.abc.Stream]:
        nonlocal count
        count += 1
        path = str(tmp_path / f"c{count}.sock")
        sock = trio.socket.socket(trio.socket.AF_UNIX)
        await sock.bind(path)
        sock.listen()
        listener = trio.SocketListener(sock)
        client = await pynector.transport.UnixTransport(path=path)._open_stream()
        server = await listener.accept()
        await listener.aclose()
        return client, server

    await trio.testing.check_half_closeable_stream(pair, None)


async def test_memory_pairs_are_two_way_streams() -> None:
    """The in-memory pairs under the framed memory transport pass the two-way stream suite."""

    async def pair() -> tuple[trio.abc.Stream, trio.abc.Stream]:
        return trio.testing.memory_stream_pair()

    await trio.testing.check_two_way_stream(pair, None)


async def test_tls_connections_are_two_way_streams(ca: trustme.CA) -> None:
    """The TLS streams the tcp transport opens pass trio's two-way stream conformance suite."""
    server_ctx = server_context(ca, "svc.example")

    async def pair() -> tuple[trio.abc.Stream, trio.abc.Stream]:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        transport = TCPTransport(
            host="127.0.0.1", port=port, ssl_context=client_context(ca), server_hostname="svc.example"
        )
        server_stream: list[trio.abc.Stream] = []

        async def accept() -> None:
            raw = await listeners[0].accept()
            tls = trio.SSLStream(raw, server_ctx, server_side=True)
            await tls.do_handshake()
            server_stream.append(tls)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept)
            client = await transport._open_stream()
        await listeners[0].aclose()
        return client, server_stream[0]

    await trio.testing.check_two_way_stream(pair, None)


async def test_memory_framed_cancellation_sweep() -> None:
    """Cancelling framed memory exchanges at every checkpoint leaves no task, lease or waiter behind."""

    async def handler(payload: bytes) -> bytes:
        await trio.lowlevel.checkpoint()
        await trio.lowlevel.checkpoint()
        return payload

    baseline = tasks_living()
    async with pynector.Pynector(
        transport_type="memory", handler=handler, framing="line", max_connections=2
    ) as client:
        for steps in range(30):
            await cancel_after_checkpoints(client, steps, [b"%d" % i for i in range(3)])
            stats = client.transport.statistics()  # type: ignore[attr-defined]
            assert (0, 0) == (stats.in_use, stats.waiters)
            assert baseline == tasks_living()
        assert b"after" == await client.request(b"after")
    assert baseline == tasks_living()


def test_telemetry_hooks_describe_the_peer_not_the_payload() -> None:
    """Attempt spans name the transport and carry the peer address, never the payload."""
    transport = TCPTransport(host="127.0.0.1", port=9000, framing="length")
    assert "tcp exchange" == transport.span_name(b"secret-payload", {})
    expected = {
        "network.transport": "tcp",
        "pynector.framing": "length",
        "server.address": "127.0.0.1",
        "server.port": 9000,
        "pynector.request.size": 14,
    }
    assert expected == dict(transport.span_attributes(b"secret-payload", {}))
    assert {"pynector.response.size": 2} == dict(transport.response_span_attributes(b"ok"))
