"""The native HTTP/1.1 engine at work against a loopback server, offline.

Run: ``python examples/native_engine.py``

Starts a tiny keep-alive HTTP server on 127.0.0.1 (port 0), then sends a GET, a POST with a streamed
(chunked) body and 20 concurrent GETs through an engine limited to 4 connections, and prints the
pool statistics: every request after the first few reuses a pooled connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import h11
import trio

from pynector.http._engine import WireRequest
from pynector.http._native import NativeEngine


async def serve_http(*, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Answer every request with its method and body size; report the port once listening."""

    async def handle(stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        size = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Request):
                method, size = event.method, 0
            elif isinstance(event, h11.Data):
                size += len(event.data)
            elif isinstance(event, h11.EndOfMessage):
                body = b"%s with %d body bytes\n" % (method, size)
                headers = [("Content-Length", str(len(body)))]
                data = conn.send(h11.Response(status_code=200, headers=headers))
                await stream.send_all(data + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))  # type: ignore[operator]
                conn.start_next_cycle()
            else:
                return  # the client closed the connection

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handle, listeners)
        task_status.started(listeners[0].socket.getsockname()[1])


async def fetch(engine: NativeEngine, request: WireRequest) -> bytes:
    """Send one request and read its whole body."""
    async with engine.send(request) as response:
        return b"".join([chunk async for chunk in response.aiter_raw()])


async def main() -> None:
    """Start the server, make the requests, print what happened."""
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_http)

        def request(method: str = "GET", body: object = b"") -> WireRequest:
            return WireRequest(method, "http", "127.0.0.1", port, "/", (("Accept", "text/plain"),), body)  # type: ignore[arg-type]

        async def pieces() -> AsyncIterator[bytes]:
            for _ in range(3):
                yield b"x" * 1000

        async with NativeEngine(max_connections=4, keepalive_expiry=30) as engine:
            print((await fetch(engine, request())).decode(), end="")
            print((await fetch(engine, request("POST", pieces()))).decode(), end="")
            async with trio.open_nursery() as batch:
                for _ in range(20):
                    batch.start_soon(fetch, engine, request())
            print(engine.statistics())
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
