"""A loopback forward proxy for tests: absolute-form requests and CONNECT tunnels, relayed byte by byte."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urlsplit

import trio


@dataclass
class ProxyServer:
    """What the proxy saw: one ``(request line, Proxy-Authorization or None)`` per connection."""

    port: int
    required_authorization: str | None = None
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    def url(self, credentials: str = "") -> str:
        return f"http://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}"


async def _relay(source: trio.SocketStream, sink: trio.SocketStream) -> None:
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
        await sink.send_eof()
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass


async def _pipe(a: trio.SocketStream, b: trio.SocketStream) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_relay, a, b)
        nursery.start_soon(_relay, b, a)


async def _serve(proxy: ProxyServer, client: trio.SocketStream) -> None:
    async with client:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            data = await client.receive_some(65536)
            if not data:
                return
            buffer += data
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
        headers = [line.split(":", 1) for line in lines[1:]]
        auth = next((v.strip() for n, v in headers if n.lower() == "proxy-authorization"), None)
        proxy.seen.append((lines[0], auth))
        if proxy.required_authorization is not None and auth != proxy.required_authorization:
            await client.send_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = await trio.open_tcp_stream(host.strip("[]"), int(port))
            await client.send_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            # One forwarded exchange per connection (enough for tests): the request goes upstream with
            # Connection: close, the whole answer comes back with Connection: close.
            url = urlsplit(target)
            origin_form = url.path + (f"?{url.query}" if url.query else "")
            kept = [f"{n}:{v}" for n, v in headers if n.lower() not in {"proxy-authorization", "connection"}]
            new_head = "\r\n".join([f"{method} {origin_form} {version}", *kept, "Connection: close"])
            async with await trio.open_tcp_stream(url.hostname or "", url.port or 80) as upstream:
                await upstream.send_all(new_head.encode("latin-1") + b"\r\n\r\n" + rest)
                answer = b""
                while data := await upstream.receive_some(65536):
                    answer += data
            status, _, remainder = answer.partition(b"\r\n")
            await client.send_all(status + b"\r\nConnection: close\r\n" + remainder)
            return
        async with upstream:
            await _pipe(client, upstream)


@asynccontextmanager
async def open_proxy(required_authorization: str | None = None) -> AsyncIterator[ProxyServer]:
    """Run the proxy on a loopback port for the block."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(trio.serve_tcp, lambda s: _serve(proxy, s), 0, host="127.0.0.1")
        )
        proxy = ProxyServer(listeners[0].socket.getsockname()[1], required_authorization)
        yield proxy
        nursery.cancel_scope.cancel()
