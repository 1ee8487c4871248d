"""Real loopback servers for the native engine's tests, written byte by byte: a :class:`Server` whose
connections run scripted behaviours (a :class:`Peer` reads requests with h11 and writes raw bytes),
the fixtures that start and close them, and the four checks made after every fault
(:func:`check_fault`).
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Awaitable, Callable

import h11
import pytest
import trio
import trio.testing

import pynector
from pynector._pool import PoolStatistics
from pynector.http._engine import Body, WireRequest
from pynector.http._native import NativeEngine

Behaviour = Callable[["Peer"], Awaitable[None]]
BASELINE = PoolStatistics(open=0, idle=0, in_use=0, waiters=0)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


class Peer:
    """The server side of one connection: reads requests with h11, writes raw bytes."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._buffer = b""

    async def read_request(self) -> tuple[h11.Request, bytes] | None:
        """The next request and its body, or ``None`` when the client closed the connection."""
        conn = h11.Connection(h11.SERVER)
        if self._buffer:
            conn.receive_data(self._buffer)
        request: h11.Request | None = None
        body = b""
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                return None
            if event is h11.NEED_DATA:
                try:
                    data = await self.stream.receive_some(65536)
                except trio.BrokenResourceError:
                    return None
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                self._buffer = conn.trailing_data[0]
                return request, body
            else:
                return None

    async def send(self, data: bytes) -> None:
        """Write raw bytes."""
        await self.stream.send_all(data)

    def reset(self) -> None:
        """Close with SO_LINGER 0 so the client sees a TCP reset."""
        sock = self.stream.socket  # type: ignore[attr-defined]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


async def healthy(peer: Peer) -> None:
    """Answer every request on the connection with 200 ``hello`` (keep-alive)."""
    while await peer.read_request() is not None:
        await peer.send(OK)


class Server:
    """A loopback server that runs one behaviour per accepted connection (then ``healthy``)."""

    def __init__(self, *behaviours: Behaviour, tls: ssl.SSLContext | None = None) -> None:
        self.behaviours = list(behaviours)
        self.tls = tls
        self.accepted = 0
        self.open = 0
        self.requests: list[tuple[h11.Request, bytes]] = []
        self._changed = trio.lowlevel.ParkingLot()
        self.port = 0

    async def _handle(self, stream: trio.abc.Stream) -> None:
        behaviour = self.behaviours.pop(0) if self.behaviours else healthy
        self.accepted += 1
        self.open += 1
        if self.tls is not None:
            stream = trio.SSLStream(stream, self.tls, server_side=True)
        peer = Peer(stream)
        original = peer.read_request

        async def recording_read() -> tuple[h11.Request, bytes] | None:
            result = await original()
            if result is not None:
                self.requests.append(result)
            return result

        peer.read_request = recording_read  # type: ignore[method-assign]
        try:
            await behaviour(peer)
            # Nothing more to say: wait for the client to close its side (nothing leaked).
            while await stream.receive_some(65536):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            self.open -= 1
            self._changed.unpark_all()
            await trio.aclose_forcefully(stream)

    async def serve(self, *, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on 127.0.0.1, port 0; report the server once listening."""
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle, listeners)
            task_status.started(self)

    async def wait_all_closed(self) -> None:
        """Block until every accepted connection was closed by the client (nothing leaked)."""
        with trio.fail_after(5):
            while self.open:
                await self._changed.park()
        await trio.testing.wait_all_tasks_blocked()  # let the handler tasks finish exiting

    def request(
        self,
        method: str = "GET",
        target: str = "/",
        headers: tuple[tuple[str, str], ...] = (),
        body: Body = b"",
        host: str = "127.0.0.1",
    ) -> WireRequest:
        """A request to this server."""
        scheme = "https" if self.tls is not None else "http"
        return WireRequest(method, scheme, host, self.port, target, headers, body)


async def start(nursery: trio.Nursery, *behaviours: Behaviour, tls: ssl.SSLContext | None = None) -> Server:
    """Start a Server in *nursery*."""
    server: Server = await nursery.start(Server(*behaviours, tls=tls).serve)
    return server


async def fetch(engine: NativeEngine, request: WireRequest) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send *request* and read the whole body."""
    async with engine.send(request) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
        return response.status_code, response.headers, body


async def exchange(
    engine: NativeEngine, request: WireRequest, via: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send *request* and read the whole body, through ``send`` or through ``fetch``."""
    if via == "send":
        return await fetch(engine, request)
    whole = await engine.fetch(request, None, "the request")
    return whole.status_code, whole.headers, whole.body


def tasks_living() -> int:
    """Tasks alive in this run (for the "no task left" check)."""
    return trio.lowlevel.current_statistics().tasks_living


async def check_fault(
    engine: NativeEngine,
    server: Server,
    error: type[pynector.PynectorError],
    cause: type[BaseException] | tuple[type[BaseException], ...],
    message: str,
    request: WireRequest | None = None,
    via: str = "send",
) -> pynector.PynectorError:
    """Run one faulty exchange (read *via* ``send`` or ``fetch``) and check the four fault checks."""
    tasks_before = tasks_living()
    with pytest.raises(error) as info:
        await exchange(engine, request or server.request(), via)
    assert error is type(info.value)  # the right error: the most specific class
    assert isinstance(info.value.__cause__, cause)
    assert message in str(info.value)
    await server.wait_all_closed()  # nothing leaked: the faulty connection was closed, not pooled
    assert tasks_before == tasks_living()  # no task left (the server's handler task has ended too)
    assert 0 == engine.statistics().open
    assert (200, b"hello") == (await fetch(engine, server.request()))[::2]  # the client recovers
    stats = engine.statistics()
    assert (0, 0) == (stats.in_use, stats.waiters)
    return info.value


def idle_socket(engine: NativeEngine) -> trio.socket.SocketType:
    """The socket of the engine's one idle connection."""
    (connection,) = [conn for queue in engine._pool._idle.values() for conn, _ in queue]
    stream = connection.stream
    assert isinstance(stream, trio.SocketStream)
    return stream.socket
