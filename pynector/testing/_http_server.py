"""A scriptable loopback HTTP/1.1 server on trio + h11, for tests, examples and demos.

Start it inside a nursery; it listens on the numeric ``127.0.0.1`` and a free port (name lookups of
``localhost`` run in a thread and misbehave under ``autojump_clock``)::

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse | None:
        if request.path == "/slow":
            await conn.drip(b"HTTP/1.1 200 OK\\r\\nContent-Length: 5\\r\\n\\r\\nhello", interval=0.2)
            return None                                   # took over the socket: closed afterwards
        return HTTPResponse.json({"path": request.path})  # sent with h11, keep-alive

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_http, handler)
        ... server.url, server.port, server.requests, server.connections_accepted ...
        nursery.cancel_scope.cancel()

or ``async with open_http_server(handler) as server: ...``.

The handler is called once per request, with the whole request body read. It returns an
:class:`HTTPResponse` (sent with correct framing; the connection stays open for the next request), a
:class:`RawResponse` (bytes sent as they are, framing be damned: how hostile servers are scripted; the
connection stays open unless it says ``close=True``), or
``None`` after scripting raw behaviour on the :class:`ServerConnection`: send arbitrary bytes, drip
them on trio's clock, close early, reset (``SO_LINGER`` 0), or wait silently until the client goes
away (:meth:`ServerConnection.wait_client_close`), which is how "never answers" and "headers then
silence" are written so the server still notices the client hanging up. The connection is closed when
a handler returns ``None``.

A response body may also be an async iterable of byte chunks, sent as it produces them (chunked
unless the headers give a length): server-sent events paced with ``trio.sleep`` on trio's clock, a
stream that stalls (``await conn.wait_client_close()``) or hangs up mid-body (``await conn.close()``).
``server.head_handler``, when set, is called as soon as a request head arrived, before its body
is read; a response it returns is sent at once and the connection closed (a server refusing an
upload early). The handler can be swapped while the server runs (``server.handler = ...``), which is how the
``pynector_http_server`` pytest fixture is scripted.

The server counts connections accepted and closed; ``await server.wait_all_closed()`` returns once every
accepted connection was closed, which is how tests check that the client released its sockets.
A handler that raises gets a 500 answer and its exception is kept in ``server.handler_errors`` (a
streamed body whose iterator raises has its connection closed mid-body, the exception kept there too).
"""

from __future__ import annotations

import inspect
import json as _json
import socket
import ssl
import struct
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import h11
import trio

from ..sse import ServerSentEvent, encode_event
from ._counting import ConnectionCounter
from ._serving import open_served

__all__ = [
    "HTTPRequest",
    "HTTPResponse",
    "HTTPServer",
    "Handler",
    "RawResponse",
    "SSEDelay",
    "SSEDrop",
    "SSEStep",
    "ServerConnection",
    "open_http_server",
    "serve_http",
]

#: The largest request head the server accepts.
MAX_REQUEST_HEAD = 64 * 1024


@dataclass(frozen=True)
class HTTPRequest:
    """A request as the server received it.

    Attributes:
        method: the method (``"GET"``).
        target: the request target as sent (``"/path?x=1"``).
        headers: ``(name, value)`` pairs, names lower-cased, in order.
        body: the whole request body.
        connection: index of the connection it arrived on (0 for the first accepted connection).
    """

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    connection: int

    @property
    def path(self) -> str:
        """The path part of the target."""
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        """The query parameters (the last value wins for repeated names)."""
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        """The first value of header *name* (any case), or ``None``."""
        lowered = name.lower()
        return next((v for n, v in self.headers if n == lowered), None)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.body)


@dataclass(frozen=True, slots=True)
class SSEDelay:
    """A step of a scripted event stream: wait *seconds* (``trio.sleep``, so on trio's clock)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class SSEDrop:
    """A step of a scripted event stream: drop the connection here (the loopback server closes it
    mid-body; the mock transport's body raises :class:`pynector.ReadError`)."""


#: One step of a scripted event stream: an event, the data of a ``message`` event (``str``), raw
#: bytes (comments, partial lines), a delay or a drop. After the last step the stream ends cleanly.
SSEStep = ServerSentEvent | str | bytes | SSEDelay | SSEDrop


def _encode_step(step: ServerSentEvent | str | bytes) -> bytes:
    if isinstance(step, bytes):
        return step
    if isinstance(step, str):
        return encode_event(step)
    if isinstance(step, ServerSentEvent):
        event = None if step.event == "message" else step.event
        return encode_event(step.data, event=event, id=step.id or None, retry=step.retry)
    raise TypeError(f"an event-stream step is an event, str, bytes, SSEDelay or SSEDrop, got {step!r}")


class SSEChunks:
    """The body of a scripted event stream: the encoded steps, paced by the delays, until a drop.

    A class rather than an async generator: a consumer may stop early, and a suspended generator
    left to the garbage collector makes trio warn.

    Args:
        steps: the script.
        drop: awaited at an :class:`SSEDrop` step (it may raise); the stream then ends.
    """

    def __init__(self, steps: Sequence[SSEStep], drop: Callable[[], Awaitable[None]]) -> None:
        for step in steps:
            if not isinstance(step, (SSEDelay, SSEDrop)):
                _encode_step(step)  # a bad step fails when scripted, not mid-stream
        self._steps = list(steps)
        self._drop = drop
        self._position = 0

    def __aiter__(self) -> SSEChunks:
        return self

    async def __anext__(self) -> bytes:
        while self._position < len(self._steps):
            step = self._steps[self._position]
            self._position += 1
            if isinstance(step, SSEDelay):
                await trio.sleep(step.seconds)
            elif isinstance(step, SSEDrop):
                self._position = len(self._steps)
                await self._drop()
            else:
                return _encode_step(step)
        raise StopAsyncIteration


async def _no_drop() -> None:
    raise TypeError("an SSEDrop step needs the connection: HTTPResponse.sse(steps, connection=conn)")


@dataclass
class HTTPResponse:
    """A response for the server to send.

    ``Content-Length`` is added unless the headers give it or ``Transfer-Encoding: chunked``; a body
    given as a list of chunks is sent chunk by chunk. A body given as an async iterable of chunks is
    sent as it produces them, chunked unless the headers give a ``Content-Length``; if the handler
    closes or resets the connection meanwhile (``conn.close()``), sending stops there.

    Attributes:
        status: the status code.
        headers: header pairs or a mapping.
        body: bytes, text (UTF-8), a list of byte chunks or an async iterable of byte chunks.
        reason: the reason phrase (default: none sent, h11 writes an empty one).
    """

    status: int = 200
    headers: Sequence[tuple[str, str]] | Mapping[str, str] = ()
    body: bytes | str | list[bytes] | AsyncIterable[bytes] = b""
    reason: str = ""

    @classmethod
    def json(cls, value: Any, status: int = 200, headers: Sequence[tuple[str, str]] = ()) -> HTTPResponse:
        """A JSON response (``Content-Type: application/json``)."""
        return cls(status, [("Content-Type", "application/json"), *headers], _json.dumps(value).encode())

    @classmethod
    def sse(
        cls,
        steps: Sequence[SSEStep],
        connection: ServerConnection | None = None,
        *,
        status: int = 200,
        headers: Sequence[tuple[str, str]] = (),
    ) -> HTTPResponse:
        """A scripted ``text/event-stream`` response, sent as the steps come (chunked).

        ``HTTPResponse.sse(["hello", SSEDelay(5), ServerSentEvent("x", id="2"), SSEDrop()], conn)``
        sends one event, waits 5 s on trio's clock, sends another, then closes the connection
        mid-body (a drop needs *connection*). Without a drop the stream ends cleanly.

        Raises:
            TypeError: a step is not an event, str, bytes, SSEDelay or SSEDrop.
        """
        drop = _no_drop if connection is None else connection.close
        body = SSEChunks(steps, drop)
        pairs = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), *headers]
        return cls(status, pairs, body)

    def _header_pairs(self) -> list[tuple[str, str]]:
        if isinstance(self.headers, Mapping):
            return list(self.headers.items())
        return list(self.headers)

    def _chunks(self) -> list[bytes]:
        if isinstance(self.body, str):
            return [self.body.encode()]
        if isinstance(self.body, bytes):
            return [self.body]
        if isinstance(self.body, AsyncIterable):
            raise TypeError("an async iterable body has no chunks list")
        return list(self.body)


@dataclass(frozen=True)
class RawResponse:
    """Bytes for the server to send as they are, instead of a response it frames itself: how a
    hostile or broken server is scripted (a smuggled second response, conflicting framing headers,
    a bad chunk size, a response head larger than any limit, a decompression bomb, a 1xx...).

    Unlike returning ``None`` from a handler, the connection stays open by default: the server reads
    the next request on it and answers it as usual, so a client that wrongly reuses the connection
    reads whatever the raw bytes left behind.

    Attributes:
        data: the bytes to send.
        close: close the connection after sending (default ``False``).
    """

    data: bytes
    close: bool = False


class ServerConnection:
    """One accepted connection, for handlers that script raw behaviour.

    Attributes:
        index: 0 for the first connection the server accepted, then 1, 2...
        stream: the underlying trio stream (an ``SSLStream`` for TLS servers).
    """

    def __init__(self, stream: trio.abc.Stream, socket_stream: trio.SocketStream, index: int) -> None:
        self.stream = stream
        self.index = index
        self._socket_stream = socket_stream
        self.closed = False

    async def send_raw(self, data: bytes) -> None:
        """Send *data* as is (no framing).

        Raises:
            trio.BrokenResourceError: the client went away (the server handles it).
        """
        await self.stream.send_all(data)

    async def drip(self, data: bytes, interval: float, chunk_size: int = 1) -> None:
        """Send *data* *chunk_size* bytes at a time, sleeping *interval* seconds (trio clock) before each."""
        for start in range(0, len(data), chunk_size):
            await trio.sleep(interval)
            await self.stream.send_all(data[start : start + chunk_size])

    async def close(self) -> None:
        """Close the connection gracefully (the client sees EOF)."""
        self.closed = True
        await trio.aclose_forcefully(self.stream)

    def reset(self) -> None:
        """Abort the connection: ``SO_LINGER`` 0 then close, so the client sees a reset."""
        self.closed = True
        sock = self._socket_stream.socket
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    async def wait_client_close(self) -> None:
        """Block without answering until the client closes or resets the connection."""
        try:
            while await self.stream.receive_some(65536):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


#: ``handler(request, connection)``, sync or async, returning an :class:`HTTPResponse`, a
#: :class:`RawResponse` or ``None``.
Handler = Callable[
    [HTTPRequest, ServerConnection],
    "HTTPResponse | RawResponse | Awaitable[HTTPResponse | RawResponse | None] | None",
]


@dataclass
class HTTPServer(ConnectionCounter):
    """A running loopback server (returned by ``nursery.start(serve_http, handler)``).

    Attributes:
        host: ``"127.0.0.1"``.
        port: the port it listens on.
        scheme: ``"http"`` or ``"https"``.
        requests: every request received, in order.
        connections_accepted: connections accepted so far.
        connections_closed: connections the server has finished with (closed or reset).
        handler_errors: exceptions raised by the handler (each answered with a 500).
        handler: the handler answering requests; assign another one at any time.
        head_handler: called like *handler* as soon as a request head arrived, before its body is
            read (the request's ``body`` is empty then). A response it returns is sent at once and
            the connection closed without reading the body (a server refusing an upload early, with
            ``413`` and ``Connection: close``); ``None`` lets the request continue to *handler*.
        check_handler_errors_on_teardown: read by the ``pynector_http_server`` pytest fixture, which
            fails the test at teardown if the handler raised, unless this is set to ``False``.
    """

    host: str
    port: int
    scheme: str = "http"
    handler: Handler | None = None
    head_handler: Handler | None = None
    check_handler_errors_on_teardown: bool = True
    requests: list[HTTPRequest] = field(default_factory=list)
    handler_errors: list[BaseException] = field(default_factory=list)

    @property
    def url(self) -> str:
        """``"http://127.0.0.1:<port>"``."""
        return f"{self.scheme}://{self.host}:{self.port}"


async def _call(
    handler: Handler, request: HTTPRequest, conn: ServerConnection
) -> HTTPResponse | RawResponse | None:
    result = handler(request, conn)
    if inspect.isawaitable(result):
        result = await result
    return result


def _request_of(head: h11.Request, body: bytes, index: int) -> HTTPRequest:
    return HTTPRequest(
        method=head.method.decode("ascii"),
        target=head.target.decode("ascii"),
        headers=[(n.decode("latin-1"), v.decode("latin-1")) for n, v in head.headers],
        body=body,
        connection=index,
    )


async def _read_request(
    server: HTTPServer, connection: ServerConnection, conn: h11.Connection
) -> HTTPRequest | HTTPResponse | RawResponse | None:
    """The next whole request; or the early answer of ``server.head_handler`` to its head; or
    ``None`` when the client closed the connection."""
    stream = connection.stream
    head: h11.Request | None = None
    body: list[bytes] = []
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            conn.receive_data(bytes(data))
            continue
        if isinstance(event, h11.Request):
            head = event
            if server.head_handler is not None:
                early = await _call(server.head_handler, _request_of(head, b"", connection.index), connection)
                if early is not None:
                    server.requests.append(_request_of(head, b"", connection.index))
                    return early
        elif isinstance(event, h11.Data):
            body.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage) and head is not None:
            return _request_of(head, b"".join(body), connection.index)
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None


async def _send_response(
    connection: ServerConnection, conn: h11.Connection, response: HTTPResponse, method: str
) -> None:
    stream = connection.stream
    headers = response._header_pairs()
    names = {n.lower() for n, _ in headers}
    body = response.body
    streamed = isinstance(body, AsyncIterable)
    chunks = [] if streamed else response._chunks()
    # Without a length, h11 frames a streamed body as chunked (close-delimited for HTTP/1.0 clients).
    if "content-length" not in names and "transfer-encoding" not in names and not streamed:
        headers.append(("Content-Length", str(sum(len(c) for c in chunks))))
    await stream.send_all(
        conn.send(h11.Response(status_code=response.status, headers=headers, reason=response.reason.encode()))
        or b""
    )
    if method != "HEAD" and response.status not in (204, 304):
        if isinstance(body, AsyncIterable):
            if await _send_streamed(connection, conn, body):
                return  # the handler closed the connection mid-body
        else:
            for chunk in chunks:
                if chunk:
                    await stream.send_all(conn.send(h11.Data(data=chunk)) or b"")
    await stream.send_all(conn.send(h11.EndOfMessage()) or b"")


async def _send_streamed(
    connection: ServerConnection, conn: h11.Connection, body: AsyncIterable[bytes]
) -> bool:
    """Send the chunks of *body* as it produces them; ``True`` if the connection was closed meanwhile.

    An async generator body is closed here whatever happens (client gone, server cancelled), so it
    is never left suspended for the garbage collector.
    """
    iterator = aiter(body)
    try:
        async for chunk in iterator:
            if connection.closed:
                return True
            if chunk:
                await connection.stream.send_all(conn.send(h11.Data(data=bytes(chunk))) or b"")
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            with trio.CancelScope(shield=True):
                await aclose()
    return connection.closed


async def _serve_connection(
    server: HTTPServer, handler: Handler, tls: ssl.SSLContext | None, socket_stream: trio.SocketStream
) -> None:
    index = server.connections_accepted
    server.connections_accepted += 1
    server._notify()
    stream: trio.abc.Stream = socket_stream
    connection = ServerConnection(stream, socket_stream, index)
    try:
        if tls is not None:
            stream = trio.SSLStream(socket_stream, tls, server_side=True)
            connection.stream = stream
            await stream.do_handshake()
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD)
        while True:
            request = await _read_request(server, connection, conn)
            if request is None:
                return
            if not isinstance(request, HTTPRequest):  # the head handler answered early
                await _send_early(connection, conn, request)
                return
            server.requests.append(request)
            try:
                response = await _call(server.handler or handler, request, connection)
            except Exception as exc:
                server.handler_errors.append(exc)
                response = HTTPResponse(500, body=f"handler failed: {type(exc).__name__}: {exc}")
            if response is None or connection.closed:
                return
            if isinstance(response, RawResponse):
                await stream.send_all(response.data)
                if response.close:
                    return
                # The raw bytes answered this request: read the next one with fresh framing state.
                leftover = conn.trailing_data[0]
                conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD)
                if leftover:  # (h11 takes empty data as the end of the connection)
                    conn.receive_data(leftover)
                continue
            try:
                await _send_response(connection, conn, response, request.method)
            except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError, OSError):
                raise
            except Exception as exc:  # a streamed body's iterator failed: cut the response short
                server.handler_errors.append(exc)
                return
            if connection.closed:
                return
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError, OSError):
        pass  # the client went away or misbehaved: this connection is over
    finally:
        if not connection.closed:
            await trio.aclose_forcefully(stream)
        server.connections_closed += 1
        server._notify()


async def _send_early(
    connection: ServerConnection, conn: h11.Connection, response: HTTPResponse | RawResponse
) -> None:
    """Send the head handler's answer; the request body stays unread and the connection is closed."""
    if isinstance(response, RawResponse):
        await connection.stream.send_all(response.data)
        return
    if not any(name.lower() == "connection" for name, _ in response._header_pairs()):
        response = HTTPResponse(
            response.status,
            [*response._header_pairs(), ("Connection", "close")],
            response.body,
            response.reason,
        )
    await _send_response(connection, conn, response, "GET")


async def serve_http(
    handler: Handler,
    *,
    ssl_context: ssl.SSLContext | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[HTTPServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve HTTP/1.1 (HTTPS with *ssl_context*) on *host*:*port* until cancelled.

    Use ``server = await nursery.start(serve_http, handler)``: it returns the :class:`HTTPServer`
    once the socket listens. Blocks until cancelled; connection tasks end with it.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound_port = listeners[0].socket.getsockname()[1]
    server = HTTPServer(
        host=host, port=bound_port, scheme="https" if ssl_context else "http", handler=handler
    )
    async with trio.open_nursery() as nursery:
        task_status.started(server)
        await trio.serve_listeners(
            partial(_serve_connection, server, handler, ssl_context),
            listeners,
            handler_nursery=nursery,
        )


@asynccontextmanager
async def open_http_server(handler: Handler, **options: Any) -> AsyncIterator[HTTPServer]:
    """Run :func:`serve_http` for the duration of an ``async with`` block and stop it afterwards."""
    async with open_served(serve_http, handler, **options) as server:
        yield server
