"""The networking toolkit: default ports, host:port with IPv6 brackets, connect-and-handshake."""

from __future__ import annotations

import ssl

import pytest
import trio
import trustme
from helpers.tls import client_context, server_context

from pynector._httpcommon import HTTP_TOKEN
from pynector._net import default_port, host_port, open_tcp_stream
from pynector.testing import open_tcp_server


def test_default_ports_by_scheme() -> None:
    """https means 443, http 80."""
    assert (443, 80) == (default_port("https"), default_port("http"))


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("example.org", 8080, "example.org:8080"),
        ("127.0.0.1", None, "127.0.0.1"),
        ("::1", 8080, "[::1]:8080"),
        ("fe80::1", None, "[fe80::1]"),
    ],
)
def test_host_port_brackets_ipv6_literals(host: str, port: int | None, expected: str) -> None:
    """An IPv6 literal is bracketed, with or without a port."""
    assert expected == host_port(host, port)


def test_http_token_refuses_a_trailing_newline() -> None:
    """The token grammar anchors at the very end: a name followed by a newline is no token."""
    assert HTTP_TOKEN.match("X-Api-Key")
    assert None is HTTP_TOKEN.match("X-Api-Key\n")
    assert None is HTTP_TOKEN.match("Bad Name")


async def test_a_failed_handshake_closes_the_connection(ca: trustme.CA) -> None:
    """A TLS handshake refused by the client closes the TCP connection: the server sees it end."""
    untrusted = trustme.CA()
    async with open_tcp_server(
        lambda payload: payload, ssl_context=server_context(untrusted, "127.0.0.1")
    ) as server:
        with pytest.raises((ssl.SSLError, trio.BrokenResourceError)):
            await open_tcp_stream("127.0.0.1", server.port, client_context(ca), server_hostname="127.0.0.1")
        with trio.fail_after(5):
            await server.wait_all_closed()
    assert 1 == server.connections_accepted


async def test_a_trusted_handshake_gives_a_tls_stream(ca: trustme.CA) -> None:
    """With the CA trusted, the stream returned has completed its handshake."""
    async with open_tcp_server(
        lambda payload: payload, ssl_context=server_context(ca, "127.0.0.1")
    ) as server:
        stream = await open_tcp_stream(
            "127.0.0.1", server.port, client_context(ca), server_hostname="127.0.0.1"
        )
        async with stream:
            assert isinstance(stream, trio.SSLStream)
            await stream.send_all(b"ping\n")
            assert b"ping\n" == await stream.receive_some(100)
