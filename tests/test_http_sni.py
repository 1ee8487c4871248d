"""server_hostname: the TLS server name and certificate check use it instead of the URL's host."""

from __future__ import annotations

import ssl

import pytest
import trustme

import pynector
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server


async def hello(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    return HTTPResponse(200, body=b"hello")


def contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("origin.test").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_server_hostname_is_sent_and_verified(http_engine: str) -> None:
    """To 127.0.0.1 with server_hostname="origin.test": that name is sent and its certificate accepted."""
    server_context, client_context = contexts()
    names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment]
    async with (
        open_http_server(hello, ssl_context=server_context) as server,
        pynector.Pynector(
            transport_type=http_engine,
            base_url=server.url,
            verify=client_context,
            server_hostname="origin.test",
        ) as client,
    ):
        response = await client.get("/")
    assert b"hello" == response.content
    assert ["origin.test"] == names


async def test_without_server_hostname_the_url_host_is_checked(http_engine: str) -> None:
    """Without server_hostname the certificate must name the URL's host (here it does not)."""
    server_context, client_context = contexts()
    async with (
        open_http_server(hello, ssl_context=server_context) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, verify=client_context) as client,
    ):
        with pytest.raises(pynector.TLSError, match="mismatch"):
            await client.get("/")
