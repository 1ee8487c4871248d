"""Redirects: off by default; when on, credentials stripped across origins, no downgrade, hops capped."""

from __future__ import annotations

import pytest
import trio
import trustme
from helpers.tls import client_context, server_context

import pynector
from pynector.testing import HTTPRequest, HTTPResponse, HTTPServer, ServerConnection, open_http_server

CREDENTIALS = {
    "Authorization": "Bearer sentinel-auth",
    "Proxy-Authorization": "Basic sentinel-proxy",
    "Cookie": "session=sentinel-cookie",
    "X-API-Key": "sentinel-key",
    "X-Tenant-Secret": "sentinel-custom",
}


def redirector(location: str, status: int = 302) -> object:
    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        if request.path == "/start":
            return HTTPResponse(status, [("Location", location)])
        return HTTPResponse(200, body=request.method + " " + request.body.decode())

    return handler


async def test_history_of_a_redirect_chain(http_engine: str) -> None:
    """Each response of a chain lists the hops before it, oldest first; without redirects it is
    empty (and the list, made on first access, is the response's own)."""

    async def chain(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        hops = {"/a": "/b", "/b": "/c"}
        if request.path in hops:
            return HTTPResponse(302, [("Location", hops[request.path])])
        return HTTPResponse(200, body=b"end")

    async with (
        open_http_server(chain) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, follow_redirects=True) as client,
    ):
        response = await client.request("/a")
        plain = await client.request("/c")
    first, second = response.history
    assert [302, 302, 200] == [first.status_code, second.status_code, response.status_code]
    assert ([], [first]) == (first.history, second.history)
    assert [server.url + "/a", server.url + "/b"] == [first.url, second.url]
    assert [] == plain.history
    plain.history.append(first)
    assert [first] == plain.history


async def test_redirects_are_off_by_default(http_engine: str) -> None:
    """Without follow_redirects the 3xx response itself is returned."""
    async with (
        open_http_server(redirector("/end")) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        response = await client.request("/start")
    assert 302 == response.status_code
    assert "/end" == response.headers["location"]
    assert 1 == len(server.requests)


async def test_same_origin_redirect_keeps_credentials(http_engine: str) -> None:
    """A same-origin redirect is followed with every header, and history records the hop."""
    async with (
        open_http_server(redirector("/end")) as server,
        pynector.Pynector(
            transport_type=http_engine, base_url=server.url, headers=CREDENTIALS, follow_redirects=True
        ) as client,
    ):
        response = await client.request("/start")
    assert (200, 1) == (response.status_code, len(response.history))
    assert "Bearer sentinel-auth" == server.requests[1].header("authorization")
    assert "sentinel-key" == server.requests[1].header("x-api-key")


async def test_cross_origin_redirect_strips_every_credential(http_engine: str) -> None:
    """On a change of port, Authorization, Proxy-Authorization, Cookie, API keys and secret headers go."""
    async with (
        open_http_server(lambda r, c: HTTPResponse(200, body=b"other")) as other,
        open_http_server(redirector(f"{other.url}/landing")) as server,
        pynector.Pynector(
            transport_type=http_engine,
            base_url=server.url,
            headers={**CREDENTIALS, "X-Plain": "kept"},
            follow_redirects=True,
            secret_headers=["X-Tenant-Secret"],
        ) as client,
    ):
        response = await client.request("/start")
    assert b"other" == response.content
    landed = other.requests[0]
    for name in CREDENTIALS:
        assert landed.header(name) is None, name
    assert "kept" == landed.header("x-plain")


@pytest.mark.parametrize(
    ("status", "method", "expected"),
    [
        (301, "POST", "GET "),
        (302, "POST", "GET "),
        (303, "PUT", "GET "),
        (307, "POST", "POST body"),
        (308, "PUT", "PUT body"),
    ],
)
async def test_method_and_body_on_redirect(http_engine: str, status: int, method: str, expected: str) -> None:
    """303 (and 301/302 for POST) switch to GET without a body; 307/308 resend method and body."""
    async with (
        open_http_server(redirector("/end", status)) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, follow_redirects=True) as client,
    ):
        response = await client.request({"method": method, "url": "/start", "content": b"body"})
    assert expected == response.text
    if expected.startswith("GET"):
        assert server.requests[1].header("content-length") is None


async def test_redirect_loop_is_capped(http_engine: str) -> None:
    """A redirect loop ends with RedirectError after max_redirects hops."""
    async with (
        open_http_server(redirector("/start")) as server,
        pynector.Pynector(
            transport_type=http_engine, base_url=server.url, follow_redirects=True, max_redirects=3
        ) as client,
    ):
        with pytest.raises(pynector.RedirectError, match="max_redirects=3"):
            await client.request("/start")
    assert 4 == len(server.requests)


async def test_https_to_http_is_refused(http_engine: str, ca: trustme.CA) -> None:
    """A redirect from https to http raises RedirectError and sends nothing over http."""
    async with (
        open_http_server(lambda r, c: HTTPResponse(200)) as plain,
        open_http_server(redirector(f"{plain.url}/x"), ssl_context=server_context(ca, "127.0.0.1")) as secure,
        pynector.Pynector(
            transport_type=http_engine, base_url=secure.url, verify=client_context(ca), follow_redirects=True
        ) as client,
    ):
        with pytest.raises(pynector.RedirectError, match="https to http"):
            await client.request("/start")
    assert 0 == plain.connections_accepted


async def test_per_request_follow_redirects(http_engine: str) -> None:
    """follow_redirects can be switched on for one request."""
    async with (
        open_http_server(redirector("/end")) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        assert 200 == (await client.request("/start", follow_redirects=True)).status_code


async def test_streamed_redirect_is_followed(http_engine: str) -> None:
    """stream() follows redirects too and yields the final response."""
    server: HTTPServer
    async with (
        open_http_server(redirector("/end")) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, follow_redirects=True) as client,
    ):
        async with client.stream("/start") as response:
            assert b"GET " == await response.aread()
        with trio.fail_after(5):
            assert 200 == (await client.request("/end")).status_code
