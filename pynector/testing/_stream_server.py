"""Loopback servers for the framed stream transports, for tests and examples.

``server = await nursery.start(serve_tcp, handler)`` binds ``127.0.0.1`` on a free port, reports a
:class:`StreamServer` (its address and counters) and serves until the nursery is cancelled;
``async with open_tcp_server(handler) as server:`` does the same for one block (and
:func:`serve_unix` / :func:`open_unix_server` for a Unix socket). The
handler is called once per request frame, sync or async, and may sleep on trio's clock (so
``autojump_clock`` tests run instantly). It returns the reply payload, or a scripted fault:

- :func:`close_connection`: close without replying (the client sees EOF before the reply);
- :func:`reset_connection`: abort with a TCP reset (``SO_LINGER`` 0);
- :func:`send_raw`: write bytes as they are, unframed (a truncated or oversized frame, garbage),
  then close, or keep serving with ``close=False``.

A handler exception closes that connection (the server goes on serving others). The counters
(``connections_accepted``, ``connections_closed``, ``requests``) let tests check that every
connection the client opened was closed (``await server.wait_all_closed()``).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import socket as _stdlib_socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, NoReturn

import trio

from ..framing import FramedStream, Framing, make_framing, serve_frames
from ._counting import ConnectionCounter
from ._serving import open_served

__all__ = [
    "StreamAction",
    "StreamServer",
    "close_connection",
    "reset_connection",
    "send_raw",
    "open_tcp_server",
    "open_unix_server",
    "serve_tcp",
    "serve_unix",
]


@dataclass(frozen=True, slots=True)
class StreamAction:
    """A scripted server behaviour a handler returns instead of a reply (see the module docstring)."""

    kind: Literal["close", "reset", "raw"]
    data: bytes = b""
    close: bool = True


def close_connection() -> StreamAction:
    """Handler result: close the connection without replying."""
    return StreamAction("close")


def reset_connection() -> StreamAction:
    """Handler result: abort the connection with a TCP reset (no reply)."""
    return StreamAction("reset")


def send_raw(data: bytes, *, close: bool = True) -> StreamAction:
    """Handler result: write *data* unframed, then close (or go on serving with ``close=False``)."""
    return StreamAction("raw", bytes(data), close)


StreamHandler = Callable[[bytes], Any] | Callable[[bytes], Awaitable[Any]]


@dataclass(eq=False)
class StreamServer(ConnectionCounter):
    """A running loopback server: where it listens and what it has seen.

    Attributes:
        address: ``(host, port)`` for TCP (numeric host), the socket path for Unix.
        framing: the framing it speaks.
        connections_accepted: connections accepted so far.
        connections_closed: connections the server has closed (after EOF, a fault or an error).
        requests: request frames received.
        handler_errors: handler exceptions (each closed its connection).
    """

    address: tuple[str, int] | str
    framing: Framing
    requests: int = 0
    handler_errors: int = 0

    @property
    def host(self) -> str:
        """The numeric host of a TCP server."""
        assert isinstance(self.address, tuple)
        return self.address[0]

    @property
    def port(self) -> int:
        """The port of a TCP server."""
        assert isinstance(self.address, tuple)
        return self.address[1]


def _reset(stream: trio.abc.Stream) -> None:
    inner: Any = stream
    while isinstance(inner, trio.SSLStream):
        inner = inner.transport_stream
    sock = getattr(inner, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(_stdlib_socket.SOL_SOCKET, _stdlib_socket.SO_LINGER, struct.pack("ii", 1, 0))


async def _serve_connection(
    server: StreamServer,
    handler: StreamHandler,
    ssl_context: ssl.SSLContext | None,
    stream: trio.abc.Stream,
) -> None:
    server.connections_accepted += 1
    server._notify()
    if ssl_context is not None:
        stream = trio.SSLStream(stream, ssl_context, server_side=True)
    framed = FramedStream(stream, server.framing, label="client")
    is_async = inspect.iscoroutinefunction(handler)
    scripted: list[StreamAction] = []

    async def answer(payload: bytes) -> bytes | None:
        server.requests += 1
        result: Any = await handler(payload) if is_async else handler(payload)
        if isinstance(result, StreamAction):
            scripted.append(result)
            return None
        return result  # type: ignore[no-any-return]

    graceful = False
    try:
        while True:
            await serve_frames(framed, answer)
            if not scripted:
                graceful = True
                break
            action = scripted.pop()
            if action.kind == "reset":
                _reset(stream)
                break
            if action.kind == "raw":
                await stream.send_all(action.data)
                if not action.close:
                    continue
            graceful = True
            break
    except Exception:  # a misbehaving client or a failing handler ends this connection only
        server.handler_errors += 1
    finally:
        if graceful:
            try:
                await stream.aclose()
            except Exception:
                await trio.aclose_forcefully(stream)
        else:
            await trio.aclose_forcefully(stream)
        server.connections_closed += 1
        server._notify()


async def serve_tcp(
    handler: StreamHandler,
    *,
    framing: str | Framing = "line",
    max_frame_size: int | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    task_status: trio.TaskStatus[StreamServer] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve *handler* over framed TCP (TLS with a server-side *ssl_context*) until cancelled.

    Start it with ``server = await nursery.start(serve_tcp, handler)``; ``server.port`` is the bound
    port. Blocks forever; cancel the nursery to stop it (every connection is then closed).

    Raises:
        OSError: the address cannot be bound.
        pynector.ConfigurationError: invalid framing options.
    """
    frames = make_framing(framing, max_frame_size)
    listeners = await trio.open_tcp_listeners(port, host=host)
    sockname = listeners[0].socket.getsockname()
    server = StreamServer(address=(sockname[0], sockname[1]), framing=frames)
    task_status.started(server)
    await trio.serve_listeners(partial(_serve_connection, server, handler, ssl_context), listeners)
    raise AssertionError("unreachable")  # pragma: no cover - serve_listeners never returns


async def serve_unix(
    handler: StreamHandler,
    *,
    path: str | os.PathLike[str],
    framing: str | Framing = "line",
    max_frame_size: int | None = None,
    task_status: trio.TaskStatus[StreamServer] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve *handler* over a framed Unix socket at *path* until cancelled (see :func:`serve_tcp`).

    The socket file is removed when the server stops.

    Raises:
        OSError: *path* cannot be bound (for example, it exists).
        pynector.ConfigurationError: invalid framing options.
    """
    frames = make_framing(framing, max_frame_size)
    path = os.fspath(path)
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    try:
        await sock.bind(path)
        sock.listen()
        server = StreamServer(address=path, framing=frames)
        task_status.started(server)
        await trio.serve_listeners(
            partial(_serve_connection, server, handler, None), [trio.SocketListener(sock)]
        )
    finally:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
    raise AssertionError("unreachable")  # pragma: no cover


@asynccontextmanager
async def open_tcp_server(handler: StreamHandler, **options: Any) -> AsyncIterator[StreamServer]:
    """Run :func:`serve_tcp` for the duration of an ``async with`` block and stop it afterwards.

    ``async with open_tcp_server(handler) as server:`` takes :func:`serve_tcp`'s keyword options.

    Raises:
        OSError: the address cannot be bound.
        pynector.ConfigurationError: invalid framing options.
    """
    async with open_served(serve_tcp, handler, **options) as server:
        yield server


@asynccontextmanager
async def open_unix_server(
    handler: StreamHandler, *, path: str | os.PathLike[str], **options: Any
) -> AsyncIterator[StreamServer]:
    """Run :func:`serve_unix` at *path* for the duration of an ``async with`` block; the socket file
    is removed afterwards.

    Raises:
        OSError: *path* cannot be bound.
        pynector.ConfigurationError: invalid framing options.
    """
    async with open_served(serve_unix, handler, path=path, **options) as server:
        yield server
