"""The "httpx" engine on httpx2 (httpx's maintained continuation): chosen explicitly or through a client."""

from __future__ import annotations

import pytest

import pynector
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server

httpx2 = pytest.importorskip("httpx2")


async def hello(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    return HTTPResponse(200, body=b"hello")


async def test_users_httpx2_client_is_accepted_and_used() -> None:
    """client=httpx2.AsyncClient() works on transport_type="httpx", and pynector does not close it."""
    async with open_http_server(hello) as server, httpx2.AsyncClient() as own:
        async with pynector.Pynector(transport_type="httpx", base_url=server.url, client=own) as client:
            response = await client.get("/")
        assert not own.is_closed
    assert b"hello" == response.content


async def test_httpx2_errors_map_like_httpx() -> None:
    """A refused connection through httpx2 is a pynector ConnectError with httpx2's error as cause."""
    async with pynector.Pynector(transport_type="httpx2") as client:
        with pytest.raises(pynector.ConnectError) as info:
            await client.get("http://127.0.0.1:1/")
    assert type(info.value.__cause__).__module__.startswith("httpx2")


@pytest.mark.parametrize(("options", "message"), [({"library": "requests"}, "library must be")])
def test_invalid_library(options: dict[str, object], message: str) -> None:
    """An unknown library name is a ConfigurationError."""
    with pytest.raises(pynector.ConfigurationError, match=message):
        pynector.Pynector(transport_type="httpx", **options)


def test_a_foreign_client_is_refused() -> None:
    """client= must be an httpx or httpx2 AsyncClient."""
    with pytest.raises(pynector.ConfigurationError, match=r"httpx2\.AsyncClient"):
        pynector.Pynector(transport_type="httpx", client=object())
