"""The native HTTP/1.1 engine at work against a loopback server, offline.

Run: ``python examples/native_engine.py``

Starts pynector's loopback keep-alive HTTP server (``pynector.testing.serve_http``) on 127.0.0.1
(port 0), then sends a GET, a POST with a streamed (chunked) body and 20 concurrent GETs through an
engine limited to 4 connections, and prints the pool statistics: every request after the first few
reuses a pooled connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import trio

from pynector.http import NativeEngine, WireRequest
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, serve_http


def answer(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """Answer every request with its method and body size."""
    return HTTPResponse(200, body=b"%s with %d body bytes\n" % (request.method.encode(), len(request.body)))


async def fetch(engine: NativeEngine, request: WireRequest) -> bytes:
    """Send one request and read its whole body."""
    async with engine.send(request) as response:
        return b"".join([chunk async for chunk in response.aiter_raw()])


async def main() -> None:
    """Start the server, make the requests, print what happened."""
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_http, answer)
        port = server.port

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
