"""The loopback test server (pynector.testing.serve_http) does what tests rely on."""

from __future__ import annotations

import trio

import pynector
from pynector.testing import (
    HTTPRequest,
    HTTPResponse,
    HTTPServer,
    ServerConnection,
    open_http_server,
    serve_http,
)


async def test_started_with_nursery_start_and_keep_alive() -> None:
    """nursery.start returns the server; keep-alive requests share one connection and are recorded."""
    async with trio.open_nursery() as nursery:
        server: HTTPServer = await nursery.start(serve_http, lambda r, c: HTTPResponse.json({"p": r.path}))
        assert server.url == f"http://127.0.0.1:{server.port}"
        async with pynector.Pynector(transport_type="httpx", base_url=server.url) as client:
            for path in ("/a", "/b"):
                assert {"p": path} == (await client.request(path)).json()
        assert ["/a", "/b"] == [r.path for r in server.requests]
        with trio.fail_after(5):
            await server.wait_all_closed()
        assert (1, 1) == (server.connections_accepted, server.connections_closed)
        nursery.cancel_scope.cancel()


async def test_handler_errors_become_500() -> None:
    """A handler that raises answers 500 and keeps the exception."""

    def broken(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        raise ValueError("scripted failure")

    async with (
        open_http_server(broken) as server,
        pynector.Pynector(transport_type="httpx", base_url=server.url, raise_for_status=False) as client,
    ):
        response = await client.request({"url": "/", "method": "POST", "json": {"a": 1}})
    assert 500 == response.status_code
    assert "scripted failure" in response.text
    assert isinstance(server.handler_errors[0], ValueError)
    assert {"a": 1} == server.requests[0].json()


async def test_head_has_no_body() -> None:
    """A HEAD response keeps its Content-Length but sends no body."""
    async with (
        open_http_server(lambda r, c: HTTPResponse(200, body=b"12345")) as server,
        pynector.Pynector(transport_type="httpx", base_url=server.url) as client,
    ):
        response = await client.request({"method": "HEAD", "url": "/"})
    assert (b"", "5") == (response.content, response.headers["content-length"])
